// Hostile or broken bodies from the local model server: lines that are not JSON, SSE cut short, HTML where an event
// stream or a completion was due, answers without choices. Each task gets exactly one final result; an error says
// what the upstream sent (briefly), and text streamed before the fault reaches the hub.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { infer } from '../support/fault-stage.ts';
import { accountOf, finalError, invariantViolations } from '../support/invariant.ts';
import { startRawServer, type RawServer } from '../support/model-server.ts';
import { guardProcess } from '../support/process-guard.ts';
import { startRegistrar, type Registrar } from '../support/registrar.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

guardProcess();

// fast-check builds its tables of every code point on first use, blocking the event loop for about a second: done
// here, before any daemon runs, so the block cannot pass for a silent task stream.
fc.sample(fc.string({ unit: 'binary', maxLength: 1 }), 1);

let hub: ScriptHub | undefined;
let raw: RawServer | undefined;
let registrar: Registrar | undefined;

afterEach(async () => {
  const troubles = registrar?.troubles() ?? [];
  await registrar?.stop();
  await hub?.close();
  await raw?.close();
  hub = raw = registrar = undefined;
  expect(troubles).toEqual([]);
});

async function upstream(type: 'openai' | 'ollama', contentType: string) {
  raw = await startRawServer([], { contentType, pauseMs: 1 });
  hub = await startScriptHub({ keepAliveMs: 50 });
  registrar = await startRegistrar({
    hubUrl: hub.url,
    providers: [{ name: 'gpu', type, baseUrl: type === 'openai' ? `${raw.url}/v1` : raw.url, model: 'm' }],
    timing: { upstreamIdleMs: 500 },
  });
  await hub.waitForStream();
  return { hub, raw, registrar };
}

const chunk = (content: string, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
const ndjson = (content: string, done = false) => `${JSON.stringify({ model: 'm', message: { role: 'assistant', content }, done, ...(done ? { done_reason: 'stop' } : {}) })}\n`;

let serial = 0;
/** Sends one task; resolves with its id once it has its final result. */
async function run(streaming: boolean): Promise<string> {
  const taskId = `t-${++serial}`;
  expect(hub!.send(infer(taskId, 'hello', streaming))).toBe(true);
  await eventually(() => expect(accountOf(taskId, hub!.results.get(taskId) ?? []).account.final).toBeDefined());
  return taskId;
}

describe('an OpenAI-compatible upstream sending garbage', () => {
  it.each([
    ['a data line that is not JSON', [chunk('Hel'), 'data: {"choices": [nonsense\n\n'], /frame that is not JSON: .*nonsense/, 'Hel'],
    ['an SSE stream that ends without [DONE] or a finish reason', [chunk('Hel'), chunk('lo')], /stream ended early/, 'Hello'],
    ['a stream cut in the middle of a frame', [chunk('Hel'), 'data: {"id":"c","choi'], /stream ended early/, 'Hel'],
    ['an error object inside the stream', [chunk('Hel'), 'data: {"error":{"message":"CUDA out of memory"}}\n\n'], /CUDA out of memory/, 'Hel'],
  ])('answers a streaming task with an error when the upstream sends %s, after the text it did stream', async (_what, pieces, reason, text) => {
    const { hub, raw } = await upstream('openai', 'text/event-stream');
    raw.pieces = pieces;
    const taskId = await run(true);
    expect(finalError(hub.results.get(taskId))).toMatch(reason);
    expect(invariantViolations({ received: [taskId], results: new Map([[taskId, hub.results.get(taskId)!]]), text: { [taskId]: text } })).toEqual([]);
  });

  it('answers a streaming task with an error naming the type when the upstream answers an HTML page', async () => {
    const { hub, raw } = await upstream('openai', 'text/html');
    raw.pieces = ['<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>'];
    const taskId = await run(true);
    expect(finalError(hub.results.get(taskId))).toMatch(/text\/html|ended early/);
  });

  it.each([
    ['a body that is not JSON', ['<html>oops</html>'], /answer that is not JSON: "<html>oops<\/html>"/],
    ['JSON without choices', ['{"id":"x","object":"chat.completion"}'], /no choices/],
    ['a truncated JSON body', ['{"choices":[{"message":{"content":"hi'], /not JSON/],
  ])('answers a plain task with an error when the upstream sends %s', async (_what, pieces, reason) => {
    const { hub, raw } = await upstream('openai', 'application/json');
    raw.pieces = pieces;
    const taskId = await run(false);
    expect(finalError(hub.results.get(taskId))).toMatch(reason);
  });

  it('never crashes and answers once, whatever bytes the upstream streams (fast-check)', async () => {
    const { hub, raw } = await upstream('openai', 'text/event-stream');
    const piece = fc.oneof(
      fc.string({ maxLength: 12 }).map((text) => chunk(text)),
      fc.constantFrom('data: [DONE]\n\n', '\n', '\r\n', ': comment\n', 'event: error\n', 'data: {"error":"bad"}\n\n', 'data: {', 'retry: x\n', 'data: null\n\n', 'data: []\n\n', 'data: {"choices":null}\n\n'),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 8 }), fc.boolean(), async (pieces, streaming) => {
        raw.pieces = pieces;
        const taskId = await run(streaming);
        const { problems } = accountOf(taskId, hub.results.get(taskId)!);
        expect(problems).toEqual([]);
        const error = finalError(hub.results.get(taskId));
        if (error !== undefined) expect(error.length).toBeLessThan(1_000);
      }),
      { numRuns: 40 },
    );
  });
});

describe('an Ollama upstream sending garbage', () => {
  it.each([
    ['a line that is not JSON', [ndjson('Hel'), 'this is not json\n'], /line that is not JSON: "this is not json"/, 'Hel'],
    ['a stream that ends without its done line', [ndjson('Hel'), ndjson('lo')], /stream ended early/, 'Hello'],
    ['an error line', [ndjson('Hel'), '{"error":"model requires more system memory"}\n'], /more system memory/, 'Hel'],
  ])('answers a streaming task with an error when the upstream sends %s, after the text it did stream', async (_what, pieces, reason, text) => {
    const { hub, raw } = await upstream('ollama', 'application/x-ndjson');
    raw.pieces = pieces;
    const taskId = await run(true);
    expect(finalError(hub.results.get(taskId))).toMatch(reason);
    expect(invariantViolations({ received: [taskId], results: new Map([[taskId, hub.results.get(taskId)!]]), text: { [taskId]: text } })).toEqual([]);
  });

  it('takes a last line without its newline', async () => {
    const { hub, raw } = await upstream('ollama', 'application/x-ndjson');
    raw.pieces = [ndjson('Hel'), ndjson('lo', true).trimEnd()];
    const taskId = await run(true);
    expect(finalError(hub.results.get(taskId))).toBeUndefined();
    expect(accountOf(taskId, hub.results.get(taskId)!).account.text).toBe('Hello');
  });
});
