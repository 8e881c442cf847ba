// The registrar's own cost per call, base `infer` frame against `openai` frame (passthrough), and an agent's
// 32-tool request (~20 kB): this process plays the hub (the script hub of the tests) and times each frame from
// its send to its final result, against the same call made straight to the model server, interleaved.
// `node --import tsx bench/registrar-openai.ts` (the registrar and the model server are processes of their own).
import { join } from 'node:path';
import { startScriptHub } from '../test/support/script-hub.ts';
import type { TaskResult } from '../src/protocol/index.ts';
import { authHeaders, interleaved, isMain, percentile, printTable, request, round, ROOT, spawnNode, startModelServer, withProcesses, writeRegistrarConfig, writeResult } from './support.ts';

const CLI = join(ROOT, 'bin', 'llm-registrar');
const ask = [{ role: 'user', content: 'Say something short.' }];

/** A typical agent prompt: 32 tools with a described JSON schema each. */
export function agentTools(count = 32): unknown[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'function',
    function: {
      name: `tool_${i}_${'x'.repeat(8)}`,
      description: `Tool number ${i}: does one thing to a file of the workspace and says what it did. `.repeat(3),
      parameters: {
        type: 'object',
        properties: {
          path: { type: 'string', description: 'Path of the file, relative to the workspace root' },
          line: { type: 'integer', description: 'Line number, 1-based' },
          mode: { type: 'string', enum: ['read', 'write', 'append'], description: 'What to do with it' },
          text: { type: 'string', description: 'Text to write or append, when the mode asks for it' },
        },
        required: ['path', 'mode'],
      },
    },
  }));
}

export async function runRegistrarOpenAi(options: { calls?: number; warmup?: number } = {}) {
  const calls = options.calls ?? 500;
  const warmup = options.warmup ?? 100;
  const waiters = new Map<string, () => void>();
  const hub = await startScriptHub({
    result: (taskId: string, body: TaskResult) => {
      if (!('chunk' in body) || body.chunk.done) waiters.get(taskId)?.();
      return 200;
    },
  });
  try {
    return await withProcesses(async (track) => {
      const model = track(await startModelServer('openai-frames-model', { tokens: 8, tokenDelayMs: 0 }));
      const config = writeRegistrarConfig(hub.url, [{ name: 'bench', type: 'openai', baseUrl: `${model.url}/v1`, model: 'bench-model', maxConcurrency: 4 }]);
      track(spawnNode('openai-frames-registrar', [CLI, 'start', '--config', config.configPath, '--state-dir', config.stateDir]));
      await hub.waitForStream();
      const rows: Record<string, string | number>[] = [];
      try {
      let tasks = 0;
      const relayed = (frame: (taskId: string) => unknown) => async () => {
        const taskId = `b-${++tasks}`;
        const started = performance.now();
        const done = new Promise<void>((resolve) => waiters.set(taskId, resolve));
        hub.send(frame(taskId));
        await done;
        waiters.delete(taskId);
        hub.results.delete(taskId);
        hub.resultPosts.length = 0;
        hub.sent.length = 0;
        return performance.now() - started;
      };
      const direct = (body: string) => async () => {
        const started = performance.now();
        const reply = await request(`${model.url}/v1/chat/completions`, { method: 'POST', headers: authHeaders, body });
        if (reply.status !== 200) throw new Error(`direct call answered ${reply.status}`);
        return performance.now() - started;
      };
      const tools = agentTools();
      const toolBody = { model: 'bench', messages: ask, tools };
      const cases = [
        ['infer frame (base wire)', direct(JSON.stringify({ model: 'bench', messages: ask })), relayed((taskId) => ({ kind: 'infer', taskId, llmName: 'bench', streaming: false, request: { messages: ask } }))],
        ['openai frame (passthrough)', direct(JSON.stringify({ model: 'bench', messages: ask })), relayed((taskId) => ({ kind: 'openai', taskId, llmName: 'bench', endpoint: 'chat.completions', streaming: false, body: { model: 'bench', messages: ask } }))],
        [`openai frame, 32 tools (${Math.round(JSON.stringify(toolBody).length / 1024)} kB)`, direct(JSON.stringify(toolBody)), relayed((taskId) => ({ kind: 'openai', taskId, llmName: 'bench', endpoint: 'chat.completions', streaming: false, body: toolBody }))],
      ] as const;
      for (const [name, directCall, relayedCall] of cases) {
        await interleaved(warmup, directCall, relayedCall);
        const run = await interleaved(calls, directCall, relayedCall);
        rows.push({
          call: name,
          'direct p50': round(percentile(run.direct, 50), 3),
          'through registrar p50': round(percentile(run.relayed, 50), 3),
          'added p50': round(percentile(run.relayed, 50) - percentile(run.direct, 50), 3),
          'added p99': round(percentile(run.relayed, 99) - percentile(run.direct, 99), 3),
        });
      }

      } finally {
        config.cleanup();
      }
      printTable(`registrar cost per call: frame sent → final result, against the direct call, ${calls} each (ms)`, rows);
      writeResult('registrar-openai', rows);
      return rows;
    });
  } finally {
    await hub.close();
  }
}

if (isMain(import.meta.url)) await runRegistrarOpenAi();
