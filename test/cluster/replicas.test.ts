// Three replicas of one hub on a real PostgreSQL and a real Redis, in this process: a registrar daemon whose task
// stream is on replica B, callers (the openai SDK) on replica A, the namespace's rules held across replicas, and
// what happens while Redis or PostgreSQL is away.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Daemon } from '../../src/daemon.ts';
import { startHub, type Hub, type HubOptions } from '../../src/hub/index.ts';
import { startDaemonAgainst, stopDaemon, TOKEN } from '../support/cluster.ts';
import { servicesMissing, startPostgres, startRedis, type Service } from '../support/services.ts';

const missing = servicesMissing();
if (missing) console.warn(`skipped: ${missing}`);

const OTHER = 'other-user-token';
const tokens = { [TOKEN]: { user: 'tester', admin: true }, [OTHER]: { user: 'mallory', admin: false } };
const hello = [{ role: 'user' as const, content: 'hello there' }];

async function post(url: string, path: string, body: unknown, token = TOKEN): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const provider = (name: string) => ({ name, type: 'openai', model: 'm', visibility: 'public', initialStatus: 'active' });

describe.skipIf(missing !== undefined)('three replicas on PostgreSQL and Redis', () => {
  let redis: Service;
  let postgres: Service;
  let hubs: Hub[] = [];
  let daemon: Daemon | undefined;
  const replica = (): Promise<Hub> =>
    startHub({ port: 0, tokens, store: postgres.url, bus: redis.url, watchdogMs: 2_000, keepAliveMs: 100, taskTimeoutMs: 5_000, streamGraceMs: 1_000 } satisfies HubOptions);
  const caller = (hub: Hub) => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: TOKEN, maxRetries: 0 });

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    // Started at once on an empty database: the migrations and the shared session key do not race.
    hubs = await Promise.all([replica(), replica(), replica()]);
    daemon = await startDaemonAgainst(hubs[1]!.url, { providers: [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }] });
    await vi.waitFor(async () => expect((await caller(hubs[0]!).models.list()).data.map((m) => m.id)).toContain('demo'), { timeout: 5_000, interval: 20 });
  }, 60_000);
  afterAll(async () => {
    await stopDaemon(daemon);
    await Promise.all(hubs.map((hub) => hub.close().catch(() => undefined)));
    await Promise.all([redis?.destroy(), postgres?.destroy()]);
  });

  it('answers a caller on replica A from a registrar whose stream is on replica B, plain and streamed', async () => {
    const plain = await caller(hubs[0]!).chat.completions.create({ model: 'demo', messages: hello });
    expect(plain.choices[0]!.message.content).toContain('hello there');
    const stream = await caller(hubs[2]!).chat.completions.create({ model: 'demo', messages: hello, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(plain.choices[0]!.message.content);
  });

  it('serves many calls spread over every replica, each answered once', async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => caller(hubs[i % 3]!).chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: `call ${i}` }] })),
    );
    answers.forEach((answer, i) => expect(answer.choices[0]!.message.content).toContain(`call ${i}`));
  });

  it('refuses on replica A a name held by a live session registered on replica B (409)', async () => {
    const res = await post(hubs[0]!.url, '/api/v1/llms/_provider-register', { providers: [provider('demo')] });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('held by another live session');
  });

  it("refuses another user's session id on any replica (403), and takes its owner's", async () => {
    const first = await post(hubs[2]!.url, '/api/v1/llms/_provider-register', { providers: [provider('mine')] });
    expect(first.status).toBe(201);
    const { providerSessionId } = (await first.json()) as { providerSessionId: string };
    const stolen = await post(hubs[0]!.url, '/api/v1/llms/_provider-register', { providerSessionId, providers: [provider('theirs')] }, OTHER);
    expect(stolen.status).toBe(403);
    const again = await post(hubs[1]!.url, '/api/v1/llms/_provider-register', { providerSessionId, providers: [provider('mine')] });
    expect(again.status).toBe(201);
    // A heartbeat taken by any replica keeps the session live on all of them.
    expect((await post(hubs[0]!.url, '/api/v1/llms/_provider-heartbeat', { providerSessionId })).status).toBe(200);
  });

  it('answers calls and registers with 503 and Retry-After while Redis is down, and resumes without a restart', async () => {
    await redis.kill();
    await vi.waitFor(async () => {
      const res = await post(hubs[0]!.url, '/v1/chat/completions', { model: 'demo', messages: hello });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    }, { timeout: 5_000, interval: 20 });
    expect((await post(hubs[1]!.url, '/api/v1/llms/_provider-register', { providers: [provider('while-down')] })).status).toBe(503);
    await redis.start();
    // The registrar's stream is held again once Redis is back (a fresh Redis has forgotten who held it).
    await vi.waitFor(async () => {
      const answer = await caller(hubs[0]!).chat.completions.create({ model: 'demo', messages: hello });
      expect(answer.choices[0]!.message.content).toContain('hello there');
    }, { timeout: 10_000, interval: 100 });
  }, 20_000);

  it('refuses registers with 503 while PostgreSQL is down, keeps serving calls from its mirror, and resumes', async () => {
    await postgres.kill();
    // A killed postmaster's backends may answer a last query on their open connections: the refusal comes soon after.
    let attempt = 0;
    await vi.waitFor(async () => {
      const refused = await post(hubs[0]!.url, '/api/v1/llms/_provider-register', { providers: [provider(`pg-down-${attempt++}`)] });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    }, { timeout: 5_000, interval: 50 });
    const answer = await caller(hubs[2]!).chat.completions.create({ model: 'demo', messages: hello });
    expect(answer.choices[0]!.message.content).toContain('hello there');
    await postgres.start();
    await vi.waitFor(async () => expect((await post(hubs[0]!.url, '/api/v1/llms/_provider-register', { providers: [provider('pg-back')] })).status).toBe(201), { timeout: 10_000, interval: 100 });
    // The other replicas see the new name.
    await vi.waitFor(async () => expect((await caller(hubs[1]!).models.list()).data.map((m) => m.id)).toContain('pg-back'), { timeout: 5_000, interval: 20 });
  }, 20_000);
});
