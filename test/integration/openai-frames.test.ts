// `openai` frames through a real daemon (SPEC.md §5): the script hub sends them, an OpenAI-compatible double answers,
// and what arrives on each side is what the other sent, but for `model` (a fast-check property over any JSON body).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITY_OPENAI, type TaskResult } from '../../src/protocol/index.ts';
import type { Daemon } from '../../src/daemon.ts';
import { eventually, startDaemonAgainst, stopDaemon } from '../support/cluster.ts';
import { startOpenAiServer, startRawServer, type ModelServer, type RawServer } from '../support/model-server.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

let hub: ScriptHub;
let model: ModelServer;
let raw: RawServer;
let daemon: Daemon;
let tasks = 0;

beforeAll(async () => {
  hub = await startScriptHub();
  model = await startOpenAiServer();
  raw = await startRawServer([]);
  daemon = await startDaemonAgainst(hub.url, {
    providers: [
      { name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'upstream-id' },
      { name: 'echo', type: 'openai', baseUrl: `${raw.url}/v1`, model: 'upstream-id' },
    ],
  });
  await hub.waitForStream();
});
afterAll(async () => {
  await stopDaemon(daemon);
  await Promise.all([hub.close(), model.close(), raw.close()]);
});

const frame = (llmName: string, body: Record<string, unknown>, streaming = false, endpoint = 'chat.completions') => {
  const taskId = `o-${++tasks}`;
  hub.send({ kind: 'openai', taskId, llmName, endpoint, streaming, body });
  return taskId;
};
const finalOf = (taskId: string) => eventually(() => {
  const results = hub.results.get(taskId) ?? [];
  const last = results.at(-1) as TaskResult | undefined;
  expect(last && (!('chunk' in last) || last.chunk.done)).toBeTruthy();
  return results;
});

/** JSON an SDK could send: objects, arrays, strings, numbers, booleans, null (no -0: JSON writes it as 0). */
const jsonValue = fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.parse(JSON.stringify(value)));
const jsonBody = fc.dictionary(fc.string({ maxLength: 12 }).filter((key) => key !== '__proto__'), jsonValue, { maxKeys: 6 });

describe('openai frames through the daemon', () => {
  it('offers openai.v1 on register', () => {
    expect(hub.registers[0].capabilities).toContain(CAPABILITY_OPENAI);
  });

  it('delivers any JSON body to the upstream deep-equal but for model (and stream_options when streaming)', async () => {
    await fc.assert(
      fc.asyncProperty(jsonBody, fc.boolean(), async (extra, streaming) => {
        const body: Record<string, unknown> = { ...extra, model: 'gpu', messages: [{ role: 'user', content: 'hi' }], ...(streaming ? { stream: true } : {}) };
        const before = model.requests.length;
        await finalOf(frame('gpu', body, streaming));
        const sent = model.requests[before].body as Record<string, unknown>;
        const expected: Record<string, unknown> = { ...body, model: 'upstream-id' };
        if (streaming) expected.stream_options = { ...(body.stream_options as object | undefined), include_usage: true };
        expect(sent).toEqual(expected);
      }),
      // Keys a schema library may leave out of an object it copies (valibot does): a caller's JSON holds them like any.
      { numRuns: 40, examples: [[{ prototype: false, constructor: 'x' }, false], [{ constructor: { a: 1 } }, true]] },
    );
  });

  it('answers with any JSON the upstream says, deep-equal but for model, plain and each SSE payload', async () => {
    await fc.assert(
      fc.asyncProperty(jsonBody, fc.array(jsonBody, { minLength: 1, maxLength: 4 }), async (answer, payloads) => {
        raw.pieces = [JSON.stringify({ ...answer, model: 'upstream-id' })];
        const plain = await finalOf(frame('echo', { messages: [] }));
        expect(plain).toEqual([{ status: 200, body: { ...answer, model: 'echo' } }]);

        // A nested `model` before the top-level one (llama.cpp sorts keys) must stay as it is.
        const chunks = payloads.map((payload) => ({ a_nested: { model: 'inner' }, ...payload, choices: [{ index: 0, delta: {}, finish_reason: null }], model: 'upstream-id' }));
        raw.pieces = [...chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`), 'data: [DONE]\n\n'];
        const streamed = await finalOf(frame('echo', { messages: [], stream: true }, true));
        expect(streamed.map((result) => ('chunk' in result ? result.chunk.data : result))).toEqual([
          ...chunks.map((chunk) => JSON.stringify({ ...chunk, model: 'echo' })),
          '[DONE]',
        ]);
      }),
      { numRuns: 25, examples: [[{ prototype: false, constructor: 'x' }, [{ constructor: 1 }]]] },
    );
  });

  it("relays an upstream 400 with its status and OpenAI's error fields, naming the model and no address", async () => {
    model.script = { failWith: 400 };
    try {
      const [result] = await finalOf(frame('gpu', { messages: [{ role: 'user', content: 'hi' }] }));
      expect(result).toEqual({ error: "model 'gpu': upstream answered 400: scripted failure", status: 400, type: 'BadRequestError', code: '400' });
    } finally {
      model.script = {};
    }
  });

  it('runs completions and embeddings frames on their endpoints', async () => {
    const [text] = await finalOf(frame('gpu', { prompt: 'say hi', max_tokens: 5 }, false, 'completions'));
    expect(text).toMatchObject({ status: 200, body: { object: 'text_completion', model: 'gpu' } });
    const [vectors] = await finalOf(frame('gpu', { input: ['a', 'b'] }, false, 'embeddings'));
    expect(vectors).toMatchObject({ status: 200, body: { object: 'list', model: 'gpu', data: [{ index: 0 }, { index: 1 }] } });
  });

  it('answers an unreachable upstream with an error naming the model, never its address', async () => {
    const port = model.port;
    await model.stop();
    try {
      const [result] = await finalOf(frame('gpu', { messages: [{ role: 'user', content: 'hi' }] }));
      expect('error' in result && result.error).toMatch(/^model 'gpu': cannot reach the model server/);
      expect(JSON.stringify(result)).not.toContain(String(port));
    } finally {
      await model.restart();
    }
  });
});
