// bench/model-rewrite.ts: what rewriting `model` in each streamed payload costs (SPEC.md §5): parse + re-encode (what the openai provider
// does, because the parse also finds error frames) against patching the text in place. Prints µs per payload.
import { performance } from 'node:perf_hooks';

const chunk = (content: string) =>
  JSON.stringify({
    id: 'chatcmpl-123',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: '/models/Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf',
    system_fingerprint: 'b4242-abcdef',
    choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }],
  });
const toolDelta = JSON.stringify({
  id: 'chatcmpl-123',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'upstream',
  choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"path": "src/index.ts", "line' } }] }, finish_reason: null }],
});

function parsed(data: string, model: string): string {
  const frame = JSON.parse(data) as Record<string, unknown>;
  frame.model = model;
  return JSON.stringify(frame);
}

const MODEL_FIELD = /"model"\s*:\s*"(?:[^"\\]|\\.)*"/;
function patched(data: string, model: string): string {
  return data.replace(MODEL_FIELD, `"model":${JSON.stringify(model)}`);
}

function time(label: string, payload: string, rewrite: (data: string, model: string) => string): void {
  const runs = 200_000;
  for (let i = 0; i < 20_000; i++) rewrite(payload, 'gpu');
  const start = performance.now();
  let bytes = 0;
  for (let i = 0; i < runs; i++) bytes += rewrite(payload, 'gpu').length;
  const us = ((performance.now() - start) * 1000) / runs;
  console.log(`${label.padEnd(44)} ${us.toFixed(2).padStart(6)} µs/payload  (${payload.length} bytes, ${bytes > 0 ? 'ok' : ''})`);
}

for (const [name, payload] of [
  ['token chunk', chunk(' hello')],
  ['tool-call argument delta', toolDelta],
  ['chunk with a 2 kB delta', chunk('x'.repeat(2048))],
] as const) {
  time(`${name}: parse + stringify`, payload, parsed);
  time(`${name}: patch the text`, payload, patched);
}
