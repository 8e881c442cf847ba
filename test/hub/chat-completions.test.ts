// The caller's front door end to end: a caller with fetch, a fake registrar with fetch, the hub in between.
import { describe, expect, it } from 'vitest';
import { limits, type TaskFrame } from '../../src/protocol/index.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { ADMIN, ALICE, BOB, chunkData, completion, errorMessage, hubHarness, provider, waitUntil } from './helpers.ts';

const harness = hubHarness();
const CHAT = '/v1/chat/completions';
const hello = [{ role: 'user', content: 'hi' }];

/** A hub with one registrar that published `llama` and has its task stream open. */
async function llamaOnline() {
  const hub = await harness.start();
  const registrar = harness.registrar(hub);
  await registrar.register([provider('llama')]);
  return { hub, registrar, stream: await registrar.stream() };
}

describe('POST /v1/chat/completions', () => {
  it('delivers the task on the stream and relays the result to a non-streaming caller', async () => {
    const { hub, registrar, stream } = await llamaOnline();

    const call = harness.client(hub, BOB).post(CHAT, { model: 'llama', messages: hello, temperature: 0.5 });
    const frame = await stream.nextTask();
    expect(frame).toEqual({ kind: 'infer', taskId: expect.any(String), llmName: 'llama', streaming: false, request: { messages: hello, temperature: 0.5 } });
    if (frame.kind !== 'infer') throw new Error('unreachable');

    const posted = await registrar.result(frame.taskId, { status: 200, body: completion('hello there') });
    expect(posted.status).toBe(200);
    expect(await posted.json()).toEqual({ ok: true });

    const res = await call;
    expect(res.status).toBe(200);
    // The answer names the model the caller asked for, not the upstream's id.
    expect(await res.json()).toEqual(completion('hello there', 'llama'));

    const again = await registrar.result(frame.taskId, { status: 200, body: completion('late') });
    expect(again.status).toBe(404);
  });

  it('answers 502 with the registrar error message, naming the model and no internal URL', async () => {
    const { hub, registrar, stream } = await llamaOnline();

    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello });
    const frame = await stream.nextTask();
    await registrar.result(frame.taskId, { error: 'connection to http://127.0.0.1:8082/v1/chat/completions refused' });
    const res = await call;
    expect(res.status).toBe(502);
    expect(await errorMessage(res)).toBe("model 'llama': connection to (the model server) refused");
  });

  it('streams the chunks in order to a streaming caller, drops a repeated seq, and ends with [DONE]', async () => {
    const { hub, registrar, stream } = await llamaOnline();

    const caller = await harness.client(hub, ALICE).sse(CHAT, { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
    expect(caller.response.status).toBe(200);
    expect(caller.response.headers.get('content-type')).toBe('text/event-stream');
    const frame = await stream.nextTask();
    expect(frame).toMatchObject({ kind: 'infer', streaming: true });

    for (const result of [
      { chunk: { data: chunkData('Hel'), seq: 0 } },
      { chunk: { data: chunkData('lo'), seq: 1 } },
      { chunk: { data: chunkData('lo'), seq: 1 } },
      { chunk: { data: chunkData('!', 'stop') } },
      { chunk: { data: '[DONE]', seq: 3, done: true } },
    ]) {
      expect((await registrar.result(frame.taskId, result)).status).toBe(200);
    }
    expect(await caller.rest()).toEqual([chunkData('Hel', null, 'llama'), chunkData('lo', null, 'llama'), chunkData('!', 'stop', 'llama'), '[DONE]']);
    expect(caller.ended).toBe(true);
  });

  it('sends keep-alive comments to a streaming caller while it waits for the first token', async () => {
    const hub = await harness.start({ keepAliveMs: 30 });
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const caller = await harness.client(hub, ALICE).sse(CHAT, { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
    expect(await caller.next(500)).toEqual({ comment: 'keep-alive' });
  });

  it('turns a whole completion into one chunk for a streaming caller', async () => {
    const { hub, registrar, stream } = await llamaOnline();
    const caller = await harness.client(hub, ALICE).sse(CHAT, { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
    const frame = await stream.nextTask();
    await registrar.result(frame.taskId, { status: 200, body: completion('all at once') });

    const [first, last, ...more] = await caller.rest();
    expect(JSON.parse(first ?? '')).toMatchObject({ object: 'chat.completion.chunk', choices: [{ delta: { role: 'assistant', content: 'all at once' }, finish_reason: 'stop' }] });
    expect(last).toBe('[DONE]');
    expect(more).toEqual([]);
  });

  it('gathers the chunks of a registrar that streamed a non-streaming task into one completion', async () => {
    const { hub, registrar, stream } = await llamaOnline();
    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello });
    const frame = await stream.nextTask();
    await registrar.result(frame.taskId, { chunk: { data: chunkData('one ') } });
    await registrar.result(frame.taskId, { chunk: { data: chunkData('two', 'length') } });
    await registrar.result(frame.taskId, { chunk: { data: '[DONE]', done: true } });
    const res = await call;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant', content: 'one two' }, finish_reason: 'length' }] });
  });

  it('keeps a task until a stream opens, and re-sends an unanswered task on the next stream', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);

    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello });
    const first = await registrar.stream();
    const frame = await first.nextTask();
    first.close();

    const second = await registrar.stream();
    expect(await second.nextTask()).toEqual(frame);
    await registrar.result(frame.taskId, { status: 200, body: completion('second time lucky') });
    expect(((await (await call).json()) as { choices: [{ message: { content: string } }] }).choices[0].message.content).toBe('second time lucky');
  });

  it('wakes a hibernating LLM first, then sends the infer task', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('sleepy', { initialStatus: 'hibernating' })]);
    const stream = await registrar.stream();
    const api = harness.client(hub, ALICE);

    const call = api.post(CHAT, { model: 'sleepy', messages: hello });
    const wake = await stream.nextTask();
    expect(wake).toEqual({ kind: 'wake', taskId: expect.any(String), llmName: 'sleepy' });
    await expect(stream.nextEvent(150)).rejects.toThrow(/no SSE event other than comments/);

    await registrar.result(wake.taskId, { status: 200, body: { ok: true, ms: 40 } });
    const infer = await stream.nextTask();
    expect(infer).toMatchObject({ kind: 'infer', llmName: 'sleepy' });
    expect(((await (await api.get('/api/v1/llms/sleepy')).json()) as { status: string }).status).toBe('active');

    await registrar.result(infer.taskId, { status: 200, body: completion('awake') });
    expect((await call).status).toBe(200);
  });

  it('answers 503 with the reason when the wake fails', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('sleepy', { initialStatus: 'hibernating' })]);
    const stream = await registrar.stream();

    const call = harness.client(hub, ALICE).post(CHAT, { model: 'sleepy', messages: hello });
    const wake = await stream.nextTask();
    await registrar.result(wake.taskId, { error: 'no wake recipe for sleepy' });
    const res = await call;
    expect(res.status).toBe(503);
    expect(await errorMessage(res)).toContain('no wake recipe for sleepy');
  });

  it('sends a pool call to the least busy member, and to an active one before a hibernating one', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([
      provider('gpu-a', { poolName: 'pool' }),
      provider('gpu-b', { poolName: 'pool' }),
      provider('gpu-c', { poolName: 'pool', initialStatus: 'hibernating' }),
    ]);
    const stream = await registrar.stream();
    const api = harness.client(hub, ALICE);
    const ask = () => api.post(CHAT, { model: 'pool', messages: hello });

    const call1 = ask();
    const task1 = await stream.nextTask();
    const call2 = ask();
    const task2 = await stream.nextTask();
    const memberOf = (task: TaskFrame): string => (task.kind === 'cancel' ? 'a cancel frame' : `${task.kind} ${task.llmName}`);
    expect(new Set([memberOf(task1), memberOf(task2)])).toEqual(new Set(['infer gpu-a', 'infer gpu-b']));

    // task2's member becomes free while task1's stays busy: the next call goes to task2's member.
    await registrar.result(task2.taskId, { status: 200, body: completion('two') });
    expect((await call2).status).toBe(200);
    const call3 = ask();
    const task3 = await stream.nextTask();
    expect(memberOf(task3)).toBe(memberOf(task2));

    // Both active members are busy now; the hibernating one is still not woken for a fourth call.
    const call4 = ask();
    const task4 = await stream.nextTask();
    expect(['infer gpu-a', 'infer gpu-b']).toContain(memberOf(task4));

    for (const [task, call] of [[task1, call1], [task3, call3], [task4, call4]] as const) {
      await registrar.result(task.taskId, { status: 200, body: completion('ok') });
      expect((await call).status).toBe(200);
    }
  });

  it('hides a private LLM from other users (404, like a missing one) and shows it to its owner and to an admin', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub, ALICE);
    await registrar.register([provider('secret', { visibility: 'private' })]);
    const stream = await registrar.stream();

    const fromBob = await harness.client(hub, BOB).post(CHAT, { model: 'secret', messages: hello });
    expect(fromBob.status).toBe(404);
    expect(await errorMessage(fromBob)).toBe("model 'secret' not found");
    const missing = await harness.client(hub, BOB).post(CHAT, { model: 'nothing', messages: hello });
    expect(await errorMessage(missing)).toBe("model 'nothing' not found");

    for (const token of [ADMIN, ALICE]) {
      const call = harness.client(hub, token).post(CHAT, { model: 'secret', messages: hello });
      const frame = await stream.nextTask();
      await registrar.result(frame.taskId, { status: 200, body: completion('for your eyes') });
      expect((await call).status).toBe(200);
    }
  });

  it("applies an agent's system prompt and default params, the caller's own params winning", async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')], {
      agents: [{ name: 'helper', llmName: 'llama', systemPrompt: 'Be brief.', defaultParams: { temperature: 0.2, max_tokens: 64 }, visibility: 'public' }],
    });
    const stream = await registrar.stream();

    const call = harness.client(hub, BOB).post(CHAT, { model: 'helper', messages: hello, temperature: 0.9 });
    const frame = await stream.nextTask();
    expect(frame).toMatchObject({
      kind: 'infer',
      llmName: 'llama',
      request: { messages: [{ role: 'system', content: 'Be brief.' }, ...hello], temperature: 0.9, max_tokens: 64 },
    });
    await registrar.result(frame.taskId, { status: 200, body: completion('ok') });
    expect((await call).status).toBe(200);
  });

  it('sends a cancel frame when a streaming caller disconnects, and the task is gone', async () => {
    const { hub, registrar, stream } = await llamaOnline();

    const caller = await harness.client(hub, ALICE).sse(CHAT, { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
    const frame = await stream.nextTask();
    await registrar.result(frame.taskId, { chunk: { data: chunkData('par'), seq: 0 } });
    caller.close();

    expect(await stream.nextTask()).toEqual({ kind: 'cancel', taskId: frame.taskId });
    expect((await registrar.result(frame.taskId, { chunk: { data: chunkData('tial'), seq: 1 } })).status).toBe(404);
  });

  it('sends a cancel frame when a non-streaming caller disconnects', async () => {
    const { hub, stream } = await llamaOnline();

    const controller = new AbortController();
    const call = fetch(`${hub.url}${CHAT}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: hello }),
      signal: controller.signal,
    });
    const frame = await stream.nextTask();
    controller.abort();
    await expect(call).rejects.toThrow();
    expect(await stream.nextTask()).toEqual({ kind: 'cancel', taskId: frame.taskId });
  });

  it('answers 504 when the task outlives its timeout, and tells the registrar to stop', async () => {
    const clock = new ManualClock();
    const hub = await harness.start({ taskTimeoutMs: 150, clock });
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const stream = await registrar.stream();

    let settled = false;
    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello }).finally(() => (settled = true));
    const frame = await stream.nextTask();
    await clock.advance(149);
    expect(settled).toBe(false);
    await clock.advance(1);
    const res = await call;
    expect(res.status).toBe(504);
    expect(await errorMessage(res)).toContain('150 ms');

    expect(await stream.nextTask()).toEqual({ kind: 'cancel', taskId: frame.taskId });
    expect((await registrar.result(frame.taskId, { status: 200, body: completion('too late') })).status).toBe(404);
  });

  it('ends a streaming call that times out with an error event, then [DONE]', async () => {
    const clock = new ManualClock();
    const hub = await harness.start({ taskTimeoutMs: 150, clock });
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const caller = await harness.client(hub, ALICE).sse(CHAT, { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
    await clock.advance(150);
    const [error, done, ...more] = await caller.rest();
    expect(JSON.parse(error ?? '')).toEqual({ error: { message: "model 'llama' did not answer within 150 ms", type: 'server_error', code: 'call_timeout', param: null } });
    expect(done).toBe('[DONE]');
    expect(more).toEqual([]);
  });

  it('answers 400 naming the bad field of an invalid request', async () => {
    const hub = await harness.start();
    const res = await harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: [] });
    expect(res.status).toBe(400);
    expect(await errorMessage(res)).toMatch(/^messages: /);
  });

  it('answers 413 for a request that would not fit in a task frame', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const huge = 'x'.repeat(limits.maxFrameBytes);
    const res = await harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: [{ role: 'user', content: huge }] });
    expect(res.status).toBe(413);
    expect(await errorMessage(res)).toContain('too large for a task frame');
  });

  it('answers the waiting callers with 503 when the hub closes', async () => {
    const { hub, stream } = await llamaOnline();
    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello });
    await stream.nextTask();
    await hub.close();
    const res = await call;
    expect(res.status).toBe(503);
    await waitUntil(() => stream.ended, 1000, 'the provider stream ends');
  });
});
