// The streamed upload of a task's results (capability `result.stream`, SPEC.md §4): negotiated at register, lines
// relayed to the caller as they arrive, the seq the hub has for resuming, one upload per task, and what it refuses.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { CAPABILITY_RESULT_STREAM, paths, SESSION_HEADER } from '../../src/protocol/index.ts';
import type { Hub } from '../../src/hub/index.ts';
import { ALICE, BOB, chunkData, errorMessage, hubHarness, provider } from './helpers.ts';

const harness = hubHarness();
const hello = [{ role: 'user', content: 'hi' }];

/** An upload whose body is written line by line as the test says; `answer` resolves with the hub's reply. */
function upload(hub: Hub, taskId: string, token: string, sessionId: string, contentType = 'application/x-ndjson') {
  const request = http.request(`${hub.url}${paths.resultStream(taskId)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType, [SESSION_HEADER]: sessionId },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.on('error', reject);
  });
  return {
    line: (result: unknown) => request.write(`${JSON.stringify(result)}\n`),
    end: () => request.end(),
    destroy: () => request.destroy(),
    answer,
  };
}

const chunk = (content: string, seq: number) => ({ chunk: { data: chunkData(content), seq } });

async function streamingCall(hub: Hub) {
  const alice = harness.registrar(hub, ALICE);
  await alice.register([provider('llama')], { capabilities: [CAPABILITY_RESULT_STREAM] });
  const stream = await alice.stream();
  const caller = await harness.client(hub, ALICE).sse('/v1/chat/completions', { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
  const frame = await stream.nextTask();
  const seq = async () => (await (await alice.api.get(paths.resultStream(frame.taskId), { [SESSION_HEADER]: alice.sessionId })).json()) as { seq: number };
  return { alice, caller, taskId: frame.taskId, seq };
}

describe('result.stream', () => {
  it('is answered in the register when asked for, and not otherwise', async () => {
    const hub = await harness.start();
    const asked = await harness.client(hub, ALICE).post(paths.register, { providers: [provider('llama')], capabilities: ['openai.v1', CAPABILITY_RESULT_STREAM, 'x'] });
    expect(((await asked.json()) as { capabilities?: string[] }).capabilities).toContain(CAPABILITY_RESULT_STREAM);
    const base = await harness.client(hub, BOB).post(paths.register, { providers: [provider('mistral')] });
    expect((await base.json()) as object).not.toHaveProperty('capabilities');
  });

  it('relays each line to the caller as it arrives, before the upload ends, and answers 200 at the final result', async () => {
    const hub = await harness.start();
    const { alice, caller, taskId, seq } = await streamingCall(hub);
    expect(await seq()).toEqual({ seq: -1 });
    const body = upload(hub, taskId, ALICE, alice.sessionId);
    body.line(chunk('Hel', 0));
    expect(JSON.parse((await caller.nextEvent())!.data!).choices[0].delta.content).toBe('Hel');
    body.line(chunk('lo', 1));
    expect(JSON.parse((await caller.nextEvent())!.data!).choices[0].delta.content).toBe('lo');
    body.line({ chunk: { data: '[DONE]', seq: 2, done: true } });
    body.end();
    expect((await caller.nextEvent())?.data).toBe('[DONE]');
    const answer = await body.answer;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ ok: true, seq: 2 });
  });

  it('says which seq it has after a broken upload, and drops a line it already took when one resumes before it', async () => {
    const hub = await harness.start();
    const { alice, caller, taskId, seq } = await streamingCall(hub);
    const first = upload(hub, taskId, ALICE, alice.sessionId);
    first.answer.catch(() => undefined);
    first.line(chunk('a', 0));
    first.line(chunk('b', 1));
    expect((await caller.nextEvent())?.data).toContain('"a"');
    expect((await caller.nextEvent())?.data).toContain('"b"');
    first.destroy();
    expect(await seq()).toEqual({ seq: 1 });
    const second = upload(hub, taskId, ALICE, alice.sessionId);
    second.line(chunk('b', 1));
    second.line(chunk('c', 2));
    second.line({ chunk: { data: '[DONE]', seq: 3, done: true } });
    second.end();
    expect((await caller.nextEvent())?.data).toContain('"c"');
    expect((await caller.nextEvent())?.data).toBe('[DONE]');
    expect((await second.answer).status).toBe(200);
  });

  it('ends an older upload of the same task when a newer one comes, so their lines never interleave', async () => {
    const hub = await harness.start();
    const { alice, taskId } = await streamingCall(hub);
    const older = upload(hub, taskId, ALICE, alice.sessionId);
    older.line(chunk('a', 0));
    const ended = older.answer.then(() => 'answered', () => 'cut');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const newer = upload(hub, taskId, ALICE, alice.sessionId);
    newer.line({ error: 'stop' });
    newer.end();
    expect((await newer.answer).status).toBe(200);
    expect(await ended).toBe('cut');
  });

  it("answers 404 for an unknown task, another user's, or another session's; 415 for a body that is not NDJSON; 400 for a bad line", async () => {
    const hub = await harness.start();
    const { alice, taskId } = await streamingCall(hub);
    const bob = harness.registrar(hub, BOB);
    await bob.register([provider('mistral')]);
    for (const [id, token, session] of [['no-such-task', ALICE, alice.sessionId], [taskId, BOB, bob.sessionId], [taskId, ALICE, bob.sessionId]] as const) {
      const attempt = upload(hub, id, token, session);
      attempt.line(chunk('forged', 0));
      attempt.end();
      expect((await attempt.answer).status).toBe(404);
      expect((await bob.api.get(paths.resultStream(id), { [SESSION_HEADER]: session })).status).toBe(404);
    }
    const json = upload(hub, taskId, ALICE, alice.sessionId, 'application/json');
    json.line(chunk('a', 0));
    json.end();
    expect((await json.answer).status).toBe(415);
    const bad = upload(hub, taskId, ALICE, alice.sessionId);
    bad.line({ chunk: { data: 1 } });
    bad.end();
    const answer = await bad.answer;
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error.message).toMatch(/^invalid result line/);
  });
});
