// The four registrar endpoints of SPEC.md, with the status codes the registrar acts on.
import { describe, expect, it } from 'vitest';
import { paths, SESSION_HEADER } from '../../src/protocol/index.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { ALICE, BOB, completion, errorMessage, hubHarness, provider } from './helpers.ts';

const harness = hubHarness();
const hello = [{ role: 'user', content: 'hi' }];

async function llmNames(res: Response): Promise<string[]> {
  return ((await res.json()) as Array<{ name: string }>).map((row) => row.name).sort();
}

describe('authentication', () => {
  it('answers 401 with an OpenAI error body without a known bearer token, and /healthz without any', async () => {
    const hub = await harness.start();
    const noToken = await fetch(hub.url + paths.register, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noToken.status).toBe(401);
    expect(await errorMessage(noToken)).toMatch(/bearer token/);

    const wrong = await harness.client(hub, 'not-a-token').get('/api/v1/llms');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');

    const health = await fetch(`${hub.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
  });
});

describe(`POST ${paths.register}`, () => {
  it('answers 201 with a new session id, and publishes the rows with their initial status', async () => {
    const hub = await harness.start();
    const res = await harness.client(hub, ALICE).post(paths.register, { providers: [provider('llama'), provider('qwen', { initialStatus: 'hibernating' })] });
    expect(res.status).toBe(201);
    const { providerSessionId } = (await res.json()) as { providerSessionId: string };
    expect(providerSessionId).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);

    const rows = (await (await harness.client(hub, ALICE).get('/api/v1/llms')).json()) as Array<{ name: string; status: string; owner: string }>;
    expect(rows.map(({ name, status, owner }) => ({ name, status, owner }))).toEqual([
      { name: 'llama', status: 'active', owner: 'alice' },
      { name: 'qwen', status: 'hibernating', owner: 'alice' },
    ]);
  });

  it('answers 400 naming the bad field of an invalid body', async () => {
    const hub = await harness.start();
    const res = await harness.client(hub, ALICE).post(paths.register, { providers: [{ name: 'llama', type: 'openai', model: 'm' }] });
    expect(res.status).toBe(400);
    expect(await errorMessage(res)).toMatch(/^providers\.0\.initialStatus: /);
  });

  it('answers 400 for an agent pinned to an LLM that is neither in the request nor public', async () => {
    const hub = await harness.start();
    await harness.registrar(hub, BOB).register([provider('bobs-private', { visibility: 'private' })]);
    const res = await harness.client(hub, ALICE).post(paths.register, {
      providers: [provider('llama')],
      agents: [{ name: 'helper', llmName: 'bobs-private' }],
    });
    expect(res.status).toBe(400);
    expect(await errorMessage(res)).toContain("agents.0.llmName: 'bobs-private'");
  });

  it('answers 409 naming the name when another live session holds it', async () => {
    const hub = await harness.start();
    await harness.registrar(hub, ALICE).register([provider('llama')]);
    const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider('mistral'), provider('llama')] });
    expect(res.status).toBe(409);
    expect(await errorMessage(res)).toBe("name 'llama' is held by another live session");
    expect(await llmNames(await harness.client(hub, BOB).get('/api/v1/llms'))).toEqual(['llama']);
  });

  it("answers 403 for another user's session id, and for one this hub never issued", async () => {
    const hub = await harness.start();
    const alicesSession = await harness.registrar(hub, ALICE).register([provider('llama')]);
    const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider('mistral')], providerSessionId: alicesSession });
    expect(res.status).toBe(403);
    expect(await errorMessage(res)).toMatch(/register afresh without it$/);
    const madeUp = await harness.client(hub, BOB).post(paths.register, { providers: [provider('mistral')], providerSessionId: 'c0ffee00-0000-4000-8000-000000000000' });
    expect(madeUp.status).toBe(403);
    expect(await errorMessage(madeUp)).toBe(await errorMessage(await harness.client(hub, BOB).post(paths.register, { providers: [provider('mistral')], providerSessionId: alicesSession })));
  });

  it("adopts the session's earlier rows: the new list replaces them", async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    const first = await registrar.register([provider('llama'), provider('qwen')]);
    const second = await registrar.register([provider('qwen'), provider('phi')], { providerSessionId: first });
    expect(second).toBe(first);
    expect(await llmNames(await registrar.api.get('/api/v1/llms'))).toEqual(['phi', 'qwen']);
  });

  it('keeps a sticky session id across a hub restart', async () => {
    const before = await harness.start();
    const sessionId = await harness.registrar(before).register([provider('llama')]);
    await before.close();

    const after = await harness.start();
    const registrar = harness.registrar(after);
    const heartbeat = await registrar.api.post(paths.heartbeat, { providerSessionId: sessionId });
    expect(heartbeat.status).toBe(404);
    expect(await registrar.register([provider('llama')], { providerSessionId: sessionId })).toBe(sessionId);
    expect((await registrar.heartbeat()).status).toBe(200);
  });

  it('takes over a name held by a session past the watchdog, and forgets that session once it holds nothing', async () => {
    const clock = new ManualClock();
    const hub = await harness.start({ watchdogMs: 100, clock });
    const gone = harness.registrar(hub, ALICE);
    await gone.register([provider('llama')]);
    const goneStream = await gone.stream();
    await clock.advance(99);
    expect((await harness.client(hub, BOB).post(paths.register, { providers: [provider('llama')] })).status).toBe(409);
    await clock.advance(1);

    const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider('llama')] });
    expect(res.status).toBe(201);
    const row = (await (await harness.client(hub, BOB).get('/api/v1/llms/llama')).json()) as { owner: string; status: string };
    expect(row).toMatchObject({ owner: 'bob', status: 'active' });

    expect(await goneStream.rest(1000)).toEqual([]);
    expect(goneStream.ended).toBe(true);
    expect((await gone.heartbeat()).status).toBe(404);
  });
});

describe('a register answered after its registrar gave up waiting', () => {
  it('lets the retry (same token, same rows) publish at once, and forgets the session whose id never arrived', async () => {
    const hub = await harness.start();
    const api = harness.client(hub, ALICE);
    const rows = [provider('llama'), provider('tiny', { visibility: 'private' })];
    const lost = (await (await api.post(paths.register, { providers: rows })).json()) as { providerSessionId: string };
    const retry = harness.registrar(hub, ALICE);
    const id = await retry.register(rows);
    expect(id).not.toBe(lost.providerSessionId);
    expect((await api.post(paths.heartbeat, { providerSessionId: lost.providerSessionId })).status).toBe(404);
    expect((await retry.heartbeat()).status).toBe(200);
  });

  it('still refuses once the first session opened its stream: a registrar that has its id is not a ghost', async () => {
    const hub = await harness.start();
    const first = harness.registrar(hub, ALICE);
    await first.register([provider('llama')]);
    await first.stream();
    const res = await harness.client(hub, ALICE).post(paths.register, { providers: [provider('llama')] });
    expect(res.status).toBe(409);
    expect((await first.heartbeat()).status).toBe(200);
  });
});

describe(`POST ${paths.heartbeat}`, () => {
  it('answers 200 for a known session and applies the reported statuses', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const res = await registrar.heartbeat({ providers: [{ name: 'llama', status: 'unavailable' }] });
    expect(res.status).toBe(200);
    const row = (await (await registrar.api.get('/api/v1/llms/llama')).json()) as { status: string };
    expect(row.status).toBe('unavailable');
  });

  it("answers 404 for an unknown session and for another user's", async () => {
    const hub = await harness.start();
    const sessionId = await harness.registrar(hub, ALICE).register([provider('llama')]);
    expect((await harness.client(hub, ALICE).post(paths.heartbeat, { providerSessionId: 'never-registered' })).status).toBe(404);
    expect((await harness.client(hub, BOB).post(paths.heartbeat, { providerSessionId: sessionId })).status).toBe(404);
  });
});

describe(`GET ${paths.stream}`, () => {
  it('answers 404 with a JSON body (not a stream) for an unknown session', async () => {
    const hub = await harness.start();
    const res = await harness.client(hub, ALICE).get(paths.stream, { accept: 'text/event-stream', [SESSION_HEADER]: 'never-registered' });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await errorMessage(res)).toMatch(/register again/);
  });

  it("answers 404 for another user's session", async () => {
    const hub = await harness.start();
    const sessionId = await harness.registrar(hub, ALICE).register([provider('llama')]);
    const res = await harness.client(hub, BOB).get(paths.stream, { [SESSION_HEADER]: sessionId });
    expect(res.status).toBe(404);
    await res.body?.cancel();
  });

  it('opens an event stream that carries keep-alive comments', async () => {
    const hub = await harness.start({ keepAliveMs: 30 });
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const stream = await registrar.stream();
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream');
    expect(stream.response.headers.get('cache-control')).toBe('no-cache');
    expect(await stream.next(500)).toEqual({ comment: 'keep-alive' });
  });

  it('ends the previous stream of the session when a new one opens', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const old = await registrar.stream();
    const current = await registrar.stream();
    expect(await old.rest(1000)).toEqual([]);
    expect(old.ended).toBe(true);
    expect(current.ended).toBe(false);
  });
});

describe(`POST ${paths.result(':taskId')}`, () => {
  it('answers 404 for an unknown task and 400 for an invalid result', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    expect((await registrar.result('no-such-task', { error: 'x' })).status).toBe(404);
    const invalid = await registrar.result('no-such-task', { status: 200, body: {}, error: 'both' });
    expect(invalid.status).toBe(400);
    expect(await errorMessage(invalid)).toMatch(/^invalid result: expected exactly one of/);
  });

  it("answers 404 for another user's task, or another session's, and the task stays answerable by its own", async () => {
    const hub = await harness.start();
    const alice = harness.registrar(hub, ALICE);
    await alice.register([provider('llama')]);
    const bob = harness.registrar(hub, BOB);
    await bob.register([provider('mistral')]);
    const stream = await alice.stream();

    const call = harness.client(hub, ALICE).post('/v1/chat/completions', { model: 'llama', messages: hello });
    const frame = await stream.nextTask();
    expect((await bob.result(frame.taskId, { status: 200, body: completion('forged') })).status).toBe(404);
    const wrongSession = await alice.api.post(paths.result(frame.taskId), { error: 'x' }, { [SESSION_HEADER]: bob.sessionId });
    expect(wrongSession.status).toBe(404);

    expect((await alice.result(frame.taskId, { status: 200, body: completion('genuine') })).status).toBe(200);
    const body = (await (await call).json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]?.message.content).toBe('genuine');
  });
});
