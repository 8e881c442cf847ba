// The hub's cost for the passthrough path (SPEC.md §5) against the base path: one process holds the hub, a
// wire-level registrar (test/support/wire-registrar.ts, fetch-based: not the daemon) and an OpenAI-compatible
// upstream double; each relayed call is interleaved with the same call made straight to the upstream. Rows: a plain
// chat call as a base `infer` frame, the same as an `openai` frame, and a typical agent prompt (32 tools, ~20 kB).
// Run: node --import tsx bench/passthrough.ts [calls]
import { startHub } from '../src/hub/index.ts';
import { startOpenAiUpstream } from '../test/support/openai-upstream.ts';
import { startWireRegistrar } from '../test/support/wire-registrar.ts';

const CALLS = Number(process.argv[2] ?? 400);
const TOKEN = 'bench-token';

const tools = Array.from({ length: 32 }, (_, i) => ({
  type: 'function',
  function: {
    name: `tool_${i}`,
    description: `Tool number ${i}: does one thing to the repository and reports what it changed, in a few words. `.repeat(3),
    parameters: { type: 'object', properties: { path: { type: 'string', description: 'a path in the repository' }, pattern: { type: 'string' }, limit: { type: 'integer', minimum: 1 } }, required: ['path'] },
  },
}));
const plain = { messages: [{ role: 'user', content: 'hello' }], temperature: 0.2 };
const agent = { messages: [{ role: 'system', content: 'You are a coding agent. '.repeat(20) }, { role: 'user', content: 'Fix the failing test.' }], tools, tool_choice: 'auto' };

async function timed(url: string, body: unknown): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return performance.now() - started;
}

const p50 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

const upstream = await startOpenAiUpstream();
const hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'bench', admin: true } } });
const base = await startWireRegistrar({ hubUrl: hub.url, token: TOKEN, providers: [{ name: 'base', model: 'm', upstream: upstream.baseUrl }], capabilities: [] });
const full = await startWireRegistrar({ hubUrl: hub.url, token: TOKEN, providers: [{ name: 'full', model: 'm', upstream: upstream.baseUrl }] });
await Promise.all([base.openStream(), full.openStream()]);

const rows: { path: string; bytes: number; name: string; body: Record<string, unknown> }[] = [
  { path: 'plain chat, base infer frame', bytes: 0, name: 'base', body: plain },
  { path: 'plain chat, openai frame', bytes: 0, name: 'full', body: plain },
  { path: '32 tools, openai frame', bytes: 0, name: 'full', body: agent },
];
const results = rows.map(() => ({ direct: [] as number[], relayed: [] as number[] }));
for (let i = 0; i < CALLS + 50; i++) {
  for (const [index, row] of rows.entries()) {
    const direct = await timed(`${upstream.baseUrl}/chat/completions`, { ...row.body, model: 'm' });
    const relayed = await timed(`${hub.url}/v1/chat/completions`, { ...row.body, model: row.name });
    if (i >= 50) {
      results[index]?.direct.push(direct);
      results[index]?.relayed.push(relayed);
    }
  }
}
console.log(`passthrough: ${CALLS} calls a row, one at a time, interleaved with the direct call (ms, p50)`);
console.table(
  rows.map((row, index) => {
    const { direct, relayed } = results[index] ?? { direct: [], relayed: [] };
    return { path: row.path, 'body bytes': JSON.stringify({ ...row.body, model: row.name }).length, direct: +p50(direct).toFixed(3), relayed: +p50(relayed).toFixed(3), added: +(p50(relayed) - p50(direct)).toFixed(3) };
  }),
);
base.close();
full.close();
await hub.close();
await upstream.close();
