// "A hub a team can trust" (issue 9), on a real hub over 127.0.0.1 with two users and an admin: nobody stands in
// front of another user's names, nobody takes another user's session (hub restarts included), and nothing a
// registrar sends makes the hub keep unbounded state or stop serving the catalogue.
import { mkdtempSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CAPABILITY_OPENAI, paths, SESSION_HEADER } from '../../src/protocol/index.ts';
import type { Hub } from '../../src/hub/index.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { ADMIN, ALICE, BOB, chunkData, completion, errorMessage, hubHarness, provider, waitUntil, type SseReader } from './helpers.ts';

const harness = hubHarness();
const hello = [{ role: 'user', content: 'hi' }];
const CHAT = '/v1/chat/completions';

type Registrar = ReturnType<typeof harness.registrar>;

/** Answers the next task on `stream` with a completion that says who answered. */
async function answerAs(registrar: Registrar, stream: SseReader, who: string): Promise<void> {
  const frame = await stream.nextTask();
  await registrar.result(frame.taskId, { status: 200, body: completion(`answered by ${who}`) });
}

/** Calls `model` as `token` while the given registrars answer whatever reaches them; returns who answered. */
async function whoAnswers(hub: Hub, token: string, model: string, answering: Array<[Registrar, SseReader, string]>): Promise<string> {
  const call = harness.client(hub, token).post(CHAT, { model, messages: hello });
  for (const [registrar, stream, who] of answering) void answerAs(registrar, stream, who).catch(() => {});
  const res = await call;
  if (res.status !== 200) return `${res.status}: ${await errorMessage(res)}`;
  const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
  return body.choices[0]!.message.content.replace('answered by ', '');
}

async function online(hub: Hub, token: string, providers: Parameters<Registrar['register']>[0], extra: Record<string, unknown> = {}) {
  const registrar = harness.registrar(hub, token);
  await registrar.register(providers, extra);
  return { registrar, stream: await registrar.stream() };
}

describe('one namespace: nobody stands in front of another user\'s names', () => {
  it("refuses Bob's public row in Alice's private pool, and every call to her pool reaches her", async () => {
    const hub = await harness.start();
    const alice = await online(hub, ALICE, [provider('a1', { visibility: 'private', poolName: 'team-pool' })]);
    const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider('b1', { poolName: 'team-pool' })] });
    expect(res.status).toBe(409);
    expect(await errorMessage(res)).toBe("name 'team-pool' is held by another live session");
    for (let i = 0; i < 4; i += 1) expect(await whoAnswers(hub, ALICE, 'team-pool', [[alice.registrar, alice.stream, 'alice']])).toBe('alice');
  });

  it("refuses Bob's LLM named like Alice's agent or pool, in the same words as for her public LLM", async () => {
    const hub = await harness.start();
    await online(hub, ALICE, [provider('open'), provider('secret', { visibility: 'private', poolName: 'her-pool' })], {
      agents: [{ name: 'her-agent', llmName: 'secret', visibility: 'private' }],
    });
    const messages: string[] = [];
    for (const name of ['open', 'secret', 'her-pool', 'her-agent']) {
      const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider(name)] });
      expect(res.status, name).toBe(409);
      messages.push((await errorMessage(res)).replace(name, 'N'));
    }
    expect(new Set(messages)).toEqual(new Set(["name 'N' is held by another live session"]));
    const seen = (await (await harness.client(hub, ADMIN).get('/api/v1/llms')).json()) as Array<{ owner: string }>;
    expect(seen.map((row) => row.owner)).toEqual(['alice', 'alice']);
  });

  it("lets Alice take a name Bob's dead rows held, and her calls reach her, not a 503", async () => {
    const hub = await harness.start();
    const bob = await online(hub, BOB, [provider('shared-name'), provider('b2', { poolName: 'other-pool' })], {
      agents: [{ name: 'an-agent', llmName: 'b2', visibility: 'public' }],
    });
    expect((await bob.registrar.api.post(paths.leave, { providerSessionId: bob.registrar.sessionId })).status).toBe(200);
    const alice = await online(hub, ALICE, [provider('a1', { poolName: 'shared-name' }), provider('other-pool')], {
      agents: [{ name: 'an-agent', llmName: 'a1', visibility: 'public' }],
    });
    for (const model of ['shared-name', 'other-pool', 'an-agent']) {
      expect(await whoAnswers(hub, ALICE, model, [[alice.registrar, alice.stream, 'alice']]), model).toBe('alice');
      expect(await whoAnswers(hub, BOB, model, [[alice.registrar, alice.stream, 'alice']]), model).toBe('alice');
    }
    // Bob's registrar comes back: his session holds nothing any more, and his names are Alice's.
    expect((await bob.registrar.heartbeat()).status).toBe(404);
  });
});

describe('sessions bound to their owner, across restarts', () => {
  it("refuses Bob's register with Alice's session id after a hub restart (403), and gives Alice her names back", async () => {
    const before = await harness.start();
    const aliceId = await harness.registrar(before, ALICE).register([provider('llama', { visibility: 'private' })]);
    await before.close();

    const hub = await harness.start();
    const squat = await harness.client(hub, BOB).post(paths.register, { providers: [provider('llama')], providerSessionId: aliceId });
    expect(squat.status).toBe(403);
    expect(await errorMessage(squat)).toBe('providerSessionId was not issued to this token: register afresh without it');
    const squatHeartbeat = await harness.client(hub, BOB).post(paths.heartbeat, { providerSessionId: aliceId });
    expect(squatHeartbeat.status).toBe(404);

    const alice = harness.registrar(hub, ALICE);
    expect(await alice.register([provider('llama', { visibility: 'private' })], { providerSessionId: aliceId })).toBe(aliceId);
    const stream = await alice.stream();
    expect(await whoAnswers(hub, ALICE, 'llama', [[alice, stream, 'alice']])).toBe('alice');
    expect((await harness.client(hub, BOB).post(CHAT, { model: 'llama', messages: hello })).status).toBe(404);
  });

  it('refuses the ids of a hub with another state dir, so the registrar registers afresh', async () => {
    const first = await harness.start();
    const id = await harness.registrar(first, ALICE).register([provider('llama')]);
    const other = await harness.start({ stateDir: mkdtempSync(join(tmpdir(), 'hub-other-state-')) });
    const res = await harness.client(other, ALICE).post(paths.register, { providers: [provider('llama')], providerSessionId: id });
    expect(res.status).toBe(403);
    expect((await harness.client(other, ALICE).post(paths.register, { providers: [provider('llama')] })).status).toBe(201);
  });

  it('keeps its session key in the state dir, 0600 in a 0700 dir, made on first start', async () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'hub-fresh-')), 'state');
    await harness.start({ stateDir });
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, 'session-key')).mode & 0o777).toBe(0o600);
  });

  it('answers the register with the capabilities the hub will use, only those the registrar sent', async () => {
    const hub = await harness.start();
    const api = harness.client(hub, ALICE);
    const speaks = await api.post(paths.register, { providers: [provider('a')], capabilities: ['openai.v1', 'something.else'] });
    expect(await speaks.json()).toEqual({ providerSessionId: expect.any(String), capabilities: ['openai.v1'] });
    const base = await api.post(paths.register, { providers: [provider('b')] });
    expect(Object.keys((await base.json()) as object)).toEqual(['providerSessionId']);
  });
});

describe('leaving', () => {
  it('makes the rows inactive at once, fails what waits on them, and answers 404 for a session not the leaver\'s', async () => {
    const hub = await harness.start();
    const alice = await online(hub, ALICE, [provider('llama')]);
    const waiting = harness.client(hub, BOB).post(CHAT, { model: 'llama', messages: hello });
    await alice.stream.nextTask();
    expect((await harness.client(hub, BOB).post(paths.leave, { providerSessionId: alice.registrar.sessionId })).status).toBe(404);
    const left = await alice.registrar.api.post(paths.leave, { providerSessionId: alice.registrar.sessionId });
    expect([left.status, await left.json()]).toEqual([200, { ok: true }]);
    const failed = await waiting;
    expect(failed.status).toBe(503);
    expect(await errorMessage(failed)).toMatch(/left the hub/);
    const row = (await (await harness.client(hub, BOB).get('/api/v1/llms/llama')).json()) as { status: string };
    expect(row.status).toBe('inactive');
    expect((await harness.client(hub, BOB).post(paths.register, { providers: [provider('llama')] })).status).toBe(201);
  });
});

describe('results name their session', () => {
  it("refuses our registrar's result without the session header (400) or naming another session (404), and takes it with the right one", async () => {
    const hub = await harness.start();
    const alice = await online(hub, ALICE, [provider('llama')], { capabilities: [CAPABILITY_OPENAI] });
    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello });
    const frame = await alice.stream.nextTask();
    const headerless = await alice.registrar.api.post(paths.result(frame.taskId), { error: 'x' });
    expect(headerless.status).toBe(400);
    expect(await errorMessage(headerless)).toContain(SESSION_HEADER);
    expect((await alice.registrar.api.post(paths.result(frame.taskId), { error: 'x' }, { [SESSION_HEADER]: 'someone-else' })).status).toBe(404);
    expect((await alice.registrar.result(frame.taskId, { status: 200, body: completion('ok') })).status).toBe(200);
    expect((await call).status).toBe(200);
  });

  it("takes a base registrar's result without the header, as mcpd does, and only from the task's owner", async () => {
    const hub = await harness.start();
    const alice = await online(hub, ALICE, [provider('llama')]);
    const bob = await online(hub, BOB, [provider('mistral')]);
    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello });
    const frame = await alice.stream.nextTask();
    expect((await bob.registrar.api.post(paths.result(frame.taskId), { status: 200, body: completion('forged') })).status).toBe(404);
    expect((await alice.registrar.api.post(paths.result(frame.taskId), { status: 200, body: completion('ok') })).status).toBe(200);
    const body = (await (await call).json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]?.message.content).toBe('ok');
  });
});

describe('bounded: what a registrar sends', () => {
  const deep = (levels: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { leaf: 1 };
    for (let i = 1; i < levels; i += 1) value = { nested: value };
    return value;
  };

  it('refuses agent defaultParams 20,000 levels deep (400, naming the field), and the catalogue stays 200 for everybody', async () => {
    const hub = await harness.start();
    await harness.registrar(hub, ALICE).register([provider('llama')], { agents: [{ name: 'fine', llmName: 'llama', visibility: 'public', defaultParams: deep(8) }] });
    // 120 kB, written by hand: JSON.stringify itself gives up on 20,000 levels.
    const levels = 20_000;
    const deepJson = `${'{"nested":'.repeat(levels - 1)}{"leaf":1}${'}'.repeat(levels - 1)}`;
    const body = `{"providers":[${JSON.stringify(provider('bobs'))}],"agents":[{"name":"deep","llmName":"bobs","defaultParams":${deepJson}}]}`;
    const res = await fetch(hub.url + paths.register, { method: 'POST', headers: { authorization: `Bearer ${BOB}`, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(await errorMessage(res)).toBe('agents.0.defaultParams: Invalid object: nested deeper than 8 levels');
    const nine = await harness.client(hub, BOB).post(paths.register, { providers: [provider('bobs')], agents: [{ name: 'deep', llmName: 'bobs', extras: deep(9) }] });
    expect(await errorMessage(nine)).toBe('agents.0.extras: Invalid object: nested deeper than 8 levels');
    for (const token of [ALICE, BOB, ADMIN]) {
      const agents = await harness.client(hub, token).get('/api/v1/agents');
      expect(agents.status).toBe(200);
      expect(((await agents.json()) as Array<{ name: string }>).map((a) => a.name)).toEqual(['fine']);
    }
  });

  it.each([
    ['a description over 1 KiB', { providers: [provider('x', { description: 'é'.repeat(513) })] }, 'providers.0.description: Invalid length: at most 1024 bytes'],
    ['a name of 129 characters', { providers: [provider('n'.repeat(129))] }, 'providers.0.name: Invalid name: at most 128 characters'],
    ['defaultParams over 16 KiB', { providers: [provider('x')], agents: [{ name: 'a', llmName: 'x', defaultParams: { big: 'b'.repeat(16 * 1024) } }] }, 'agents.0.defaultParams: Invalid object: larger than 16384 bytes as JSON'],
  ])('refuses %s with a 400 naming the field', async (_what, body, message) => {
    const hub = await harness.start();
    const res = await harness.client(hub, ALICE).post(paths.register, body);
    expect(res.status).toBe(400);
    expect(await errorMessage(res)).toBe(message);
  });

  it('refuses more rows than maxRowsPerSession and more live sessions than maxSessionsPerUser', async () => {
    const hub = await harness.start({ maxRowsPerSession: 3, maxSessionsPerUser: 2 });
    const api = harness.client(hub, ALICE);
    const many = await api.post(paths.register, { providers: ['a', 'b', 'c', 'd'].map((name) => provider(name)) });
    expect(many.status).toBe(400);
    expect(await errorMessage(many)).toMatch(/^providers: 4 LLMs and agents/);
    expect((await api.post(paths.register, { providers: [provider('a')] })).status).toBe(201);
    expect((await api.post(paths.register, { providers: [provider('b')] })).status).toBe(201);
    const third = await api.post(paths.register, { providers: [provider('c')] });
    expect(third.status).toBe(429);
    expect(await errorMessage(third)).toMatch(/2 live sessions .*maxSessionsPerUser/);
    expect((await harness.client(hub, BOB).post(paths.register, { providers: [provider('c')] })).status).toBe(201);
  });

  it('cuts a non-streaming call whose chunks exceed maxResultBytes: the caller gets 502, the registrar 404', async () => {
    const hub = await harness.start({ maxResultBytes: 1000 });
    const alice = await online(hub, ALICE, [provider('llama')]);
    const call = harness.client(hub, ALICE).post(CHAT, { model: 'llama', messages: hello });
    const frame = await alice.stream.nextTask();
    expect((await alice.registrar.result(frame.taskId, { chunk: { data: chunkData('x'.repeat(600)), seq: 0 } })).status).toBe(200);
    expect((await alice.registrar.result(frame.taskId, { chunk: { data: chunkData('y'.repeat(600)), seq: 1 } })).status).toBe(404);
    const res = await call;
    expect(res.status).toBe(502);
    expect(await errorMessage(res)).toMatch(/maxResultBytes 1000/);
  });

  it('streams a result larger than maxResultBytes: only a buffered one is capped', async () => {
    const hub = await harness.start({ maxResultBytes: 1000 });
    const alice = await online(hub, ALICE, [provider('llama')]);
    const call = await harness.client(hub, ALICE).sse(CHAT, { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
    const frame = await alice.stream.nextTask();
    for (let seq = 0; seq < 3; seq += 1) expect((await alice.registrar.result(frame.taskId, { chunk: { data: chunkData('z'.repeat(600)), seq } })).status).toBe(200);
    await alice.registrar.result(frame.taskId, { chunk: { data: '[DONE]', seq: 3, done: true } });
    expect((await call.rest()).length).toBe(4);
  });
});

describe('bounded: connections', () => {
  function rawSocket(hub: Hub): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect(hub.port, '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    });
  }
  const closed = (socket: Socket): Promise<string> =>
    new Promise((resolve) => {
      let received = '';
      socket.on('data', (bytes) => (received += bytes.toString()));
      socket.on('error', () => {});
      socket.on('close', () => resolve(received));
    });

  it('cuts a request whose body does not arrive within requestTimeoutMs (408), and keeps serving', async () => {
    const hub = await harness.start({ requestTimeoutMs: 200 });
    const socket = await rawSocket(hub);
    const answer = closed(socket);
    socket.write(`POST ${paths.register} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ALICE}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"providers":`);
    const started = Date.now();
    expect(await answer).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
  });

  it('closes connections beyond maxConnections on arrival, and takes new ones once there is room', async () => {
    const hub = await harness.start({ maxConnections: 2 });
    const held = [await rawSocket(hub), await rawSocket(hub)];
    const extra = await rawSocket(hub);
    const extraClosed = closed(extra);
    extra.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(await extraClosed).toBe('');
    held[0]!.destroy();
    await waitUntil(async () => (await fetch(`${hub.url}/healthz`, { headers: { connection: 'close' } }).catch(() => undefined))?.status === 200, 2_000, 'room for a connection');
    held[1]!.destroy();
  });
});

describe('collected: sessions past retentionMs', () => {
  it('deletes a session not heard from for retentionMs with its rows and agents; its heartbeat then gets 404', async () => {
    const clock = new ManualClock();
    const hub = await harness.start({ watchdogMs: 60, retentionMs: 180, clock });
    const gone = harness.registrar(hub, ALICE);
    await gone.register([provider('old', { poolName: 'old-pool' })], { agents: [{ name: 'old-agent', llmName: 'old', visibility: 'public' }] });
    const admin = harness.client(hub, ADMIN);
    const rows = async () => ((await (await admin.get('/api/v1/llms')).json()) as unknown[]).length;
    await clock.advance(179);
    expect(await rows()).toBe(1);
    await clock.advance(1);
    expect(await rows()).toBe(0);
    expect(await (await admin.get('/api/v1/agents')).json()).toEqual([]);
    expect(((await (await admin.get('/v1/models')).json()) as { data: unknown[] }).data).toEqual([]);
    expect((await gone.heartbeat()).status).toBe(404);
    // The registrar registers again with its id, as after a hub restart: it is still its own.
    expect(await gone.register([provider('old')], { providerSessionId: gone.sessionId })).toBe(gone.sessionId);
  });
});
