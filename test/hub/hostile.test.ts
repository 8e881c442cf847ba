// The hub against hostile callers and registrars: bad bodies on every endpoint, wrong tokens, another user's private
// rows and sessions, results for tasks that are not the poster's. Every answer is a short `{ error: { message } }`
// with a 4xx status, never a hint that a private row exists, and the hub keeps serving.
import { describe, expect, it } from 'vitest';
import { paths, SESSION_HEADER } from '../../src/protocol/index.ts';
import type { Hub } from '../../src/hub/index.ts';
import { ALICE, BOB, completion, errorMessage, hubHarness, provider } from './helpers.ts';

const harness = hubHarness();
const hello = [{ role: 'user', content: 'hi' }];
const CHAT = '/v1/chat/completions';
const RESULT = paths.result('some-task');
const POST_ENDPOINTS = [paths.register, paths.heartbeat, RESULT, CHAT];

/** Sends a raw body; the harness client always JSON-encodes. */
function rawPost(hub: Hub, path: string, body: string | Uint8Array | undefined, contentType: string | undefined, token = ALICE): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (contentType !== undefined) headers['content-type'] = contentType;
  return fetch(hub.url + path, { method: 'POST', headers, body: body as BodyInit | undefined });
}

/** A 4xx answer in the one error shape, short, naming no internals. */
async function expectCleanError(res: Response, status: number | number[]): Promise<string> {
  expect([status].flat()).toContain(res.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error?: { message?: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error?.message).toBe('string');
  const message = body.error!.message as string;
  expect(message.length).toBeLessThan(2_000);
  expect(message).not.toMatch(/\bat .*\.ts:\d+|node_modules|stack/);
  return message;
}

async function stillServing(hub: Hub): Promise<void> {
  expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
}

describe('bad bodies on every endpoint', () => {
  const bodies: [string, string | Uint8Array | undefined, string | undefined, number | number[]][] = [
    ['a body that is not JSON', '{"providers": [', 'application/json', 400],
    ['an empty JSON body', '', 'application/json', 400],
    ['no body at all', undefined, undefined, 400],
    ['JSON null', 'null', 'application/json', 400],
    ['a JSON array', '[1,2,3]', 'application/json', 400],
    ['a JSON string', '"hello"', 'application/json', 400],
    ['a prototype-polluting object', '{"__proto__":{"admin":true},"providers":[]}', 'application/json', 400],
    ['a body of another type', 'providers=1', 'application/x-www-form-urlencoded', 415],
    ['a text body', 'hello', 'text/plain', [400, 415]],
    ['a body above the 8 MiB limit', new Uint8Array(9 * 1024 * 1024).fill(0x20), 'application/json', 413],
    ['NUL bytes', '{"a":"\u0000"}\u0000', 'application/json', 400],
  ];
  for (const path of POST_ENDPOINTS) {
    it.each(bodies)(`answers ${path} with a clean 4xx for %s`, async (_what, body, contentType, status) => {
      const hub = await harness.start();
      await expectCleanError(await rawPost(hub, path, body, contentType), status);
      await stillServing(hub);
    });
  }

  it('keeps its 400 short when a field holds a huge wrong value', async () => {
    const hub = await harness.start();
    const huge = 'x'.repeat(1_000_000);
    const cases: [string, unknown][] = [
      [CHAT, { model: 'm', messages: [{ role: huge, content: 'a' }] }],
      [paths.register, { providers: [{ ...provider('llama'), initialStatus: huge }] }],
      [paths.heartbeat, { providerSessionId: 's', providers: [{ name: 'llama', status: huge }] }],
      [RESULT, { chunk: { data: 1, seq: huge } }],
    ];
    for (const [path, body] of cases) {
      const message = await expectCleanError(await harness.client(hub, ALICE).post(path, body), 400);
      expect(message.length, path).toBeLessThan(1_000);
    }
  });

  it('names at most a few problems of a body with thousands of wrong items', async () => {
    const hub = await harness.start();
    const messages = Array.from({ length: 5_000 }, () => ({ role: 'robot', content: 1 }));
    const message = await expectCleanError(await harness.client(hub, ALICE).post(CHAT, { model: 'm', messages }), 400);
    expect(message).toMatch(/^messages\.0\.role: /);
    expect(message).toMatch(/and \d+ more$/);
  });
});

describe('wrong tokens', () => {
  const GETS = ['/v1/models', '/api/v1/llms', '/api/v1/llms/llama', '/api/v1/agents', paths.stream];
  const authorizations: [string, string | undefined][] = [
    ['no Authorization header', undefined],
    ['an unknown token', 'Bearer not-a-token'],
    ['a scheme without a token', 'Bearer'],
    ['another scheme', `Basic ${Buffer.from('alice:secret').toString('base64')}`],
    ['a known token with junk after it', `Bearer ${ALICE} extra`],
    ['a known token glued to junk', `Bearer ${ALICE}x`],
    ['a 10 KB token', `Bearer ${'t'.repeat(10_000)}`],
  ];

  it.each(authorizations)('answers every endpoint 401 for %s, echoing nothing', async (_what, authorization) => {
    const hub = await harness.start();
    const headers = (extra: Record<string, string> = {}) => ({ ...(authorization ? { authorization } : {}), ...extra });
    const answers = [
      ...(await Promise.all(GETS.map((path) => fetch(hub.url + path, { headers: headers({ [SESSION_HEADER]: 's' }) })))),
      ...(await Promise.all(
        POST_ENDPOINTS.map((path) => fetch(hub.url + path, { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: '{}' })),
      )),
    ];
    for (const res of answers) {
      const message = await expectCleanError(res, 401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const token = authorization?.split(' ')[1];
      if (token) expect(message).not.toContain(token);
    }
    await stillServing(hub);
  });

  it('accepts the scheme in any case, as RFC 6750 allows', async () => {
    const hub = await harness.start();
    const res = await fetch(`${hub.url}/api/v1/llms`, { headers: { authorization: `bearer ${ALICE}` } });
    expect(res.status).toBe(200);
  });
});

describe("another user's private rows", () => {
  async function aliceWithSecrets() {
    const hub = await harness.start();
    const alice = harness.registrar(hub, ALICE);
    await alice.register([provider('secret', { visibility: 'private', poolName: 'hidden-pool' }), provider('open')], {
      agents: [{ name: 'secret-agent', llmName: 'secret', visibility: 'private' }],
    });
    return { hub, alice };
  }

  it('answers every way of naming a private row exactly as for a name that does not exist', async () => {
    const { hub } = await aliceWithSecrets();
    const bob = harness.client(hub, BOB);
    for (const [hidden, missing] of [
      ['secret', 'nothing'],
      ['hidden-pool', 'no-pool'],
      ['secret-agent', 'no-agent'],
    ]) {
      const a = await bob.post(CHAT, { model: hidden, messages: hello });
      const b = await bob.post(CHAT, { model: missing, messages: hello });
      expect([a.status, b.status]).toEqual([404, 404]);
      expect(await errorMessage(a)).toBe((await errorMessage(b)).replace(missing, hidden));
    }
    const a = await bob.get('/api/v1/llms/secret');
    const b = await bob.get('/api/v1/llms/nothing');
    expect([a.status, b.status]).toEqual([404, 404]);
    expect(await errorMessage(a)).toBe((await errorMessage(b)).replace('nothing', 'secret'));
    const listed = JSON.stringify([await (await bob.get('/v1/models')).json(), await (await bob.get('/api/v1/llms')).json(), await (await bob.get('/api/v1/agents')).json()]);
    expect(listed).not.toMatch(/secret|hidden-pool/);
  });

  it('does not let another user pin an agent to a private row', async () => {
    const { hub } = await aliceWithSecrets();
    const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider('bobs')], agents: [{ name: 'spy', llmName: 'secret' }] });
    const message = await expectCleanError(res, 400);
    expect(message).toBe("agents.0.llmName: 'secret' is neither one of this request's providers nor a public LLM");
    const unknown = await harness.client(hub, BOB).post(paths.register, { providers: [provider('bobs2')], agents: [{ name: 'spy2', llmName: 'nothing' }] });
    expect((await expectCleanError(unknown, 400)).replace('nothing', 'secret')).toBe(message);
  });

  it('refuses a public agent pinned to a private LLM, which would show the private name to everybody', async () => {
    const hub = await harness.start();
    const res = await harness.client(hub, ALICE).post(paths.register, {
      providers: [provider('secret', { visibility: 'private' })],
      agents: [{ name: 'front', llmName: 'secret', visibility: 'public' }],
    });
    expect(await expectCleanError(res, 400)).toBe("agents.0.visibility: a public agent cannot be pinned to the private LLM 'secret': make both public, or the agent private");
    const agents = await (await harness.client(hub, BOB).get('/api/v1/agents')).json();
    expect(agents).toEqual([]);
  });

  it("does not let another user's register take a private row's name while its session is live", async () => {
    const { hub } = await aliceWithSecrets();
    const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider('secret')] });
    await expectCleanError(res, 409);
    const row = (await (await harness.client(hub, ALICE).get('/api/v1/llms/secret')).json()) as { owner: string; visibility: string };
    expect(row).toMatchObject({ owner: 'alice', visibility: 'private' });
  });
});

describe("another user's session", () => {
  it("refuses a register under another user's session id and leaves that user's rows alone", async () => {
    const hub = await harness.start();
    const alice = harness.registrar(hub, ALICE);
    const sessionId = await alice.register([provider('llama'), provider('qwen')]);
    const res = await harness.client(hub, BOB).post(paths.register, { providers: [provider('mistral')], providerSessionId: sessionId });
    const message = await expectCleanError(res, 403);
    expect(message).toBe('providerSessionId was not issued to this token: register afresh without it');
    expect(message).not.toMatch(/alice|llama|qwen/);
    const names = ((await (await harness.client(hub, ALICE).get('/api/v1/llms')).json()) as { name: string; owner: string }[]).map((row) => `${row.name}:${row.owner}`);
    expect(names.sort()).toEqual(['llama:alice', 'qwen:alice']);
  });

  it("answers a heartbeat for another user's session 404 and applies none of its statuses", async () => {
    const hub = await harness.start();
    const sessionId = await harness.registrar(hub, ALICE).register([provider('llama')]);
    const res = await harness.client(hub, BOB).post(paths.heartbeat, { providerSessionId: sessionId, providers: [{ name: 'llama', status: 'unavailable' }] });
    await expectCleanError(res, 404);
    expect(((await (await harness.client(hub, ALICE).get('/api/v1/llms/llama')).json()) as { status: string }).status).toBe('active');
  });

  it("applies no status a session reports for another session's row", async () => {
    const hub = await harness.start();
    await harness.registrar(hub, ALICE).register([provider('llama')]);
    const bob = harness.registrar(hub, BOB);
    await bob.register([provider('mistral')]);
    expect((await bob.heartbeat({ providers: [{ name: 'llama', status: 'unavailable' }] })).status).toBe(200);
    expect(((await (await harness.client(hub, ALICE).get('/api/v1/llms/llama')).json()) as { status: string }).status).toBe('active');
  });

  it("never opens another user's task stream, nor takes over the open one", async () => {
    const hub = await harness.start();
    const alice = harness.registrar(hub, ALICE);
    await alice.register([provider('llama')]);
    const stream = await alice.stream();
    const res = await harness.client(hub, BOB).get(paths.stream, { [SESSION_HEADER]: alice.sessionId, accept: 'text/event-stream' });
    await expectCleanError(res, 404);
    // Alice's stream is still the one that gets her tasks.
    const call = harness.client(hub, BOB).post(CHAT, { model: 'llama', messages: hello });
    const frame = await stream.nextTask();
    await alice.result(frame.taskId, { status: 200, body: completion('still mine') });
    expect((await call).status).toBe(200);
  });
});

describe('results that are not the poster’s', () => {
  it("refuses a result for a task of another session of the same user, and under an unknown session header", async () => {
    const hub = await harness.start();
    const first = harness.registrar(hub, ALICE);
    await first.register([provider('llama')]);
    const second = harness.registrar(hub, ALICE);
    await second.register([provider('qwen')]);
    const stream = await first.stream();
    const call = harness.client(hub, BOB).post(CHAT, { model: 'llama', messages: hello });
    const frame = await stream.nextTask();
    await expectCleanError(await second.result(frame.taskId, { error: 'forged' }), 404);
    await expectCleanError(await first.api.post(paths.result(frame.taskId), { error: 'forged' }, { [SESSION_HEADER]: 'made-up-session' }), 404);
    expect((await first.result(frame.taskId, { status: 200, body: completion('genuine') })).status).toBe(200);
    const body = (await (await call).json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0].message.content).toBe('genuine');
  });

  it.each(['..', '%2e%2e', '..%2F..%2Fhealthz', 'x'.repeat(300), '%00', '%ZZ'])('answers a result for the task id %s with a clean 4xx', async (taskId) => {
    const hub = await harness.start();
    await harness.registrar(hub, ALICE).register([provider('llama')]);
    const res = await rawPost(hub, `/api/v1/llms/_provider-task/${taskId}/result`, '{"error":"x"}', 'application/json');
    await expectCleanError(res, [400, 404, 414]);
    await stillServing(hub);
  });

  it('takes a final result once: a second one for the same task is 404', async () => {
    const hub = await harness.start();
    const alice = harness.registrar(hub, ALICE);
    await alice.register([provider('llama')]);
    const stream = await alice.stream();
    const call = harness.client(hub, BOB).post(CHAT, { model: 'llama', messages: hello });
    const frame = await stream.nextTask();
    expect((await alice.result(frame.taskId, { status: 200, body: completion('first') })).status).toBe(200);
    await expectCleanError(await alice.result(frame.taskId, { status: 200, body: completion('second') }), 404);
    await expectCleanError(await alice.result(frame.taskId, { chunk: { data: 'late', seq: 0 } }), 404);
    const body = (await (await call).json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0].message.content).toBe('first');
  });
});
