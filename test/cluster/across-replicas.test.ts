// What a caller on one replica gets from rows published through another, beyond a plain call: a pool picks its
// member by the calls in flight on every replica, an agent's system prompt and defaultParams are applied, and a
// Responses conversation continued on another replica is refused with a clear 400 (it is kept where it was made).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { silentLogger } from '../../src/log.ts';
import { fastTiming, stopDaemon, TOKEN } from '../support/cluster.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';
import { servicesMissing, startPostgres, startRedis, type Service } from '../support/services.ts';

const missing = servicesMissing();
if (missing) console.warn(`skipped: ${missing}`);

const tokens = { [TOKEN]: { user: 'tester', admin: true } };
const hello = [{ role: 'user' as const, content: 'hello there' }];

describe.skipIf(missing !== undefined)('rows published through one replica, called through another', () => {
  let redis: Service;
  let postgres: Service;
  let hubs: Hub[] = [];
  let first: ModelServer;
  let second: ModelServer;
  let daemon: Daemon | undefined;
  let stateDir: string;
  /** Calls the model servers hold until the test lets them go. */
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const caller = (hub: Hub) => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: TOKEN, maxRetries: 0 });

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    hubs = await Promise.all([0, 1].map(() => startHub({ port: 0, tokens, store: postgres.url, bus: redis.url, watchdogMs: 2_000, keepAliveMs: 100, taskTimeoutMs: 10_000 })));
    const hold = async () => gate;
    [first, second] = await Promise.all([startOpenAiServer({ hold }), startOpenAiServer({ hold })]);
    stateDir = await mkdtemp(join(tmpdir(), 'llmr-across-'));
    const parsed = parseConfig(
      {
        hub: { url: hubs[1]!.url, token: TOKEN },
        providers: [
          { name: 'first', type: 'openai', baseUrl: first.baseUrl, model: 'm', poolName: 'pool', maxConcurrency: 8 },
          { name: 'second', type: 'openai', baseUrl: second.baseUrl, model: 'm', poolName: 'pool', maxConcurrency: 8 },
        ],
        agents: [{ name: 'terse', llmName: 'first', systemPrompt: 'Answer in one word.', defaultParams: { temperature: 0.25, max_tokens: 9 } }],
        timing: fastTiming,
      },
      {},
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    daemon = await startDaemon({ config: parsed.config, stateDir, logger: silentLogger() });
    await vi.waitFor(async () => expect((await caller(hubs[0]!).models.list()).data.map((m) => m.id)).toEqual(expect.arrayContaining(['first', 'second', 'pool', 'terse'])), { timeout: 10_000, interval: 20 });
  }, 60_000);
  afterAll(async () => {
    release();
    await stopDaemon(daemon);
    await Promise.all(hubs.map((hub) => hub.close().catch(() => undefined)));
    await Promise.all([first?.close(), second?.close()]);
    await Promise.all([redis?.destroy(), postgres?.destroy()]);
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it("sends a pool's calls on replica B to the member that replica A's calls do not keep busy", async () => {
    gate = new Promise((resolve) => (release = resolve));
    // Two calls through A straight to `first`, held by its model server: `first` has two calls in flight.
    const direct = [0, 1].map(() => caller(hubs[0]!).chat.completions.create({ model: 'first', messages: hello }));
    await vi.waitFor(() => expect(first.inFlight).toBe(2), { timeout: 5_000, interval: 10 });
    // A has published its load, and B has read it: B's sync runs every 100 ms.
    const raw = new Redis(redis.url);
    await vi.waitFor(async () => {
      const loads = await Promise.all((await raw.keys('llmr:load:*')).map((key) => raw.hget(key, 'first')));
      expect(loads).toContain('2');
    }, { timeout: 5_000, interval: 20 });
    raw.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 400));
    // B alone sees no call of its own on either member; across replicas `first` is busier, so both go to `second`.
    const pooled = [0, 1].map(() => caller(hubs[1]!).chat.completions.create({ model: 'pool', messages: hello }));
    await vi.waitFor(() => expect(second.inFlight).toBe(2), { timeout: 5_000, interval: 10 });
    expect(first.inFlight).toBe(2);
    release();
    const answers = await Promise.all([...direct, ...pooled]);
    answers.forEach((answer) => expect(answer.choices[0]!.message.content).toContain('hello there'));
    expect([first.requests.length, second.requests.length]).toEqual([2, 2]);
  }, 20_000);

  it("applies an agent's system prompt and defaultParams on a replica other than the one it was published through", async () => {
    const asked = first.requests.length;
    const answer = await caller(hubs[0]!).chat.completions.create({ model: 'terse', messages: hello, max_tokens: 50 });
    expect(answer.model).toBe('terse');
    const sent = first.requests[asked]!.body as { messages: { role: string; content: string }[]; temperature?: number; max_tokens?: number };
    expect(sent.messages[0]).toEqual({ role: 'system', content: 'Answer in one word.' });
    expect(sent.messages[1]).toEqual(hello[0]);
    // A default fills what the caller left unset, never what it set.
    expect(sent.temperature).toBe(0.25);
    expect(sent.max_tokens).toBe(50);
  });

  it('refuses with a clear 400 a Responses conversation continued on another replica than the one that keeps it', async () => {
    const made = await caller(hubs[0]!).responses.create({ model: 'second', input: 'hello there', store: true });
    const there = await caller(hubs[0]!).responses.create({ model: 'second', input: 'and again', previous_response_id: made.id });
    expect(there.output_text).toContain('and again');
    const elsewhere = await caller(hubs[1]!).responses.create({ model: 'second', input: 'and again', previous_response_id: made.id }).then(
      () => undefined,
      (error: InstanceType<typeof OpenAI.APIError>) => error,
    );
    expect(elsewhere?.status).toBe(400);
    expect(elsewhere?.message).toContain(`previous_response_id '${made.id}' is not a response this hub keeps for you`);
    expect(elsewhere?.message).toContain('send the conversation as input items instead');
  });
});
