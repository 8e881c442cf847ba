// The front door's rules beyond one call: what a base-wire registrar refuses (the seed's, a real process), the
// task stream as the session's pulse (calls never wait on a registrar that is gone), CORS, and the passthrough
// property (any body reaches the upstream as sent, any answer the caller, but for `model`).
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { HubOptions } from '../../src/hub/index.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { startOpenAiUpstream, type OpenAiUpstream } from '../support/openai-upstream.ts';
import { startWireRegistrar, type WireRegistrar } from '../support/wire-registrar.ts';
import { ADMIN, ALICE, BOB, hubHarness, provider, waitUntil } from './helpers.ts';

const harness = hubHarness();
const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

const SEED = resolve(import.meta.dirname, '../../../shared/peers/seed-registrar');
const ROOT = resolve(import.meta.dirname, '../..');
const hello = [{ role: 'user' as const, content: 'hi' }];

async function upstream(): Promise<OpenAiUpstream> {
  const server = await startOpenAiUpstream();
  opened.push(server);
  return server;
}

async function registrar(hubUrl: string, server: OpenAiUpstream, capabilities?: string[]): Promise<WireRegistrar> {
  const wire = await startWireRegistrar({ hubUrl, token: ALICE, providers: [{ name: 'llama', model: 'up-model', upstream: server.baseUrl }], ...(capabilities ? { capabilities } : {}) });
  opened.push(wire);
  return wire;
}

function sdk(hubUrl: string, maxRetries = 0): OpenAI {
  return new OpenAI({ baseURL: `${hubUrl}/v1`, apiKey: BOB, maxRetries });
}

/**
 * The seed's registrar (mcpd's own client of the base wire), as a process, publishing `seed-llm`: run from a copy
 * beside a package.json that makes it ESM (its runner awaits at top level; the shared folder has none).
 */
async function seedRegistrar(hubUrl: string, server: OpenAiUpstream): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'seed-'));
  await cp(SEED, join(dir, 'seed'), { recursive: true });
  await writeFile(join(dir, 'seed', 'package.json'), '{ "type": "module" }\n');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(dir, 'seed', 'run.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      HUB_URL: hubUrl,
      HUB_TOKEN: ALICE,
      UPSTREAM: server.baseUrl.replace(/\/v1$/, ''),
      NAME: 'seed-llm',
      MODEL: 'seed-model',
      SESSION_FILE: join(dir, 'session'),
      HEARTBEAT_MS: '1000',
      RECONNECT_BASE_MS: '100',
    },
    stdio: 'ignore',
  });
  opened.push({
    close: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGKILL');
      }),
  });
}

describe('a row whose registrar speaks the base wire only (the seed registrar)', () => {
  it('serves a plain chat call, and refuses with 400 naming the field what it cannot carry', async () => {
    const server = await upstream();
    const hub = await harness.start();
    await seedRegistrar(hub.url, server);
    const client = sdk(hub.url);
    await waitUntil(async () => (await client.chat.completions.create({ model: 'seed-llm', messages: hello }).then((a) => a.model === 'seed-llm', () => false)), 15_000, 'the seed registrar serves a call');
    const calls = server.calls.length;

    const refusals: [Record<string, unknown>, string][] = [
      [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] }, 'tools'],
      [{ response_format: { type: 'json_object' } }, 'response_format'],
      [{ n: 2 }, 'n'],
      [{ logprobs: true }, 'logprobs'],
      [{ stop: ['\n'] }, 'stop'],
      [{ seed: 1 }, 'seed'],
      [{ top_k: 40 }, 'top_k'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] }, 'messages[0].content[0]'],
      [{ messages: [...hello, { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }] }, 'messages[1].tool_calls'],
      [{ messages: [{ role: 'tool', tool_call_id: 'c', content: '{}' }] }, 'messages[0].role'],
    ];
    for (const [extra, param] of refusals) {
      const error = await client.chat.completions.create({ model: 'seed-llm', messages: hello, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e: unknown) => e);
      expect(error, param).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error, param).toMatchObject({ status: 400, param, code: 'unsupported_parameter' });
      expect((error as Error).message, param).toMatch(/^400 model 'seed-llm': .* cannot be carried to this model: its registrar speaks the base wire only/);
    }
    for (const call of [() => client.completions.create({ model: 'seed-llm', prompt: 'x' }), () => client.embeddings.create({ model: 'seed-llm', input: 'x' })]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as Error).message).toMatch(/its registrar speaks the base wire only, which has no \/v1\/(completions|embeddings)/);
    }
    expect(server.calls.length).toBe(calls);
  }, 30_000);

  it('prefers, within a pool, a member that can carry the call over one that cannot', async () => {
    const server = await upstream();
    const hub = await harness.start();
    const base = await startWireRegistrar({ hubUrl: hub.url, token: ALICE, providers: [{ name: 'old', model: 'up', upstream: server.baseUrl, poolName: 'pool' }], capabilities: [] });
    const full = await startWireRegistrar({ hubUrl: hub.url, token: ALICE, providers: [{ name: 'new', model: 'up', upstream: server.baseUrl, poolName: 'pool' }] });
    opened.push(base, full);
    expect([base.capabilities, full.capabilities]).toEqual([undefined, ['openai.v1']]);
    await Promise.all([base.openStream(), full.openStream()]);
    for (let i = 0; i < 3; i++) await sdk(hub.url).chat.completions.create({ model: 'pool', messages: hello, seed: 3 });
    expect(full.frames.filter((f) => f.kind === 'openai')).toHaveLength(3);
    expect(base.frames).toEqual([]);
  });
});

describe('the task stream is the pulse of a session', () => {
  const graceHub = (clock: ManualClock): Partial<HubOptions> => ({ streamGraceMs: 300, keepAliveMs: 5_000, clock });
  const call = (hubUrl: string) =>
    fetch(`${hubUrl}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${BOB}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama', messages: hello }) });
  /** Registrar task streams the hub holds, as its /metrics says. */
  const streamsOpen = async (hubUrl: string) => {
    const text = await (await fetch(`${hubUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    return Number(/^llm_hub_registrar_streams (\d+)$/m.exec(text)?.[1]);
  };

  it('answers 503 with Retry-After once the grace is over when the registrar has no stream open', async () => {
    const server = await upstream();
    const clock = new ManualClock();
    const hub = await harness.start(graceHub(clock));
    const wire = await registrar(hub.url, server);
    await wire.openStream();
    wire.dropStream();
    await waitUntil(async () => (await streamsOpen(hub.url)) === 0, 2_000, 'the hub saw the stream go');

    let settled = false;
    const waiting = clock.scheduled();
    const first = call(hub.url).finally(() => (settled = true));
    await waiting;
    await clock.advance(299);
    expect(settled).toBe(false);
    await clock.advance(1);
    const res = await first;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^model 'llama': its registrar has had no task stream open for 300 ms/);
    // Later calls do not wait the grace again: the stream has been gone longer than that.
    await expect(sdk(hub.url).chat.completions.create({ model: 'llama', messages: hello })).rejects.toMatchObject({ status: 503 });
  });

  it('fails a task already sent once its stream dropped and did not come back within the grace', async () => {
    const clock = new ManualClock();
    const hub = await harness.start(graceHub(clock));
    const fake = harness.registrar(hub);
    await fake.register([provider('llama')]);
    const stream = await fake.stream();
    let settled = false;
    const answer = sdk(hub.url)
      .chat.completions.create({ model: 'llama', messages: hello })
      .catch((e: unknown) => e)
      .finally(() => (settled = true));
    await stream.nextTask();
    stream.close();
    await waitUntil(async () => (await streamsOpen(hub.url)) === 0, 2_000, 'the hub saw the stream go');
    await clock.advance(299);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await answer).toMatchObject({ status: 503 });
  });

  it('answers the call when the stream comes back within the grace (the task is sent again)', async () => {
    const server = await upstream();
    const clock = new ManualClock();
    const hub = await harness.start({ ...graceHub(clock), streamGraceMs: 2_000 });
    const wire = await registrar(hub.url, server);
    const waiting = clock.scheduled();
    const answer = sdk(hub.url).chat.completions.create({ model: 'llama', messages: hello });
    await waiting;
    await clock.advance(1_999);
    await wire.openStream();
    expect((await answer).choices[0]?.message.content).toBe('Hello there');
  });

  it('gives a streaming caller the 503 as its HTTP status, not inside a 200', async () => {
    const server = await upstream();
    const clock = new ManualClock();
    const hub = await harness.start(graceHub(clock));
    await registrar(hub.url, server);
    const waiting = clock.scheduled();
    const failed = sdk(hub.url)
      .chat.completions.create({ model: 'llama', messages: hello, stream: true })
      .catch((e: unknown) => e);
    await waiting;
    await clock.advance(300);
    const error = await failed;
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error).toMatchObject({ status: 503 });
  });

  it('sends the head once a keep-alive is due, and then ends a late failure with an error event', async () => {
    const server = await upstream();
    const clock = new ManualClock();
    const hub = await harness.start({ streamGraceMs: 300, keepAliveMs: 100, clock });
    await registrar(hub.url, server);
    const caller = await harness.client(hub, BOB).sse('/v1/chat/completions', { method: 'POST', body: { model: 'llama', messages: hello, stream: true } });
    expect(caller.response.status).toBe(200);
    await clock.advance(300);
    const [error, done] = await caller.rest();
    expect(JSON.parse(error ?? '')).toMatchObject({ error: { message: expect.stringMatching(/^model 'llama': its registrar has had no task stream/) } });
    expect(done).toBe('[DONE]');
  });
});

describe('CORS', () => {
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os' } });

  it('answers a preflight from an allowed origin without a token, and names the origin on the answers', async () => {
    const server = await upstream();
    const hub = await harness.start({ corsOrigins: ['https://app.example/'] });
    await (await registrar(hub.url, server)).openStream();
    const res = await preflight(hub.url, 'https://app.example');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, x-stainless-os');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');

    for (const stream of [false, true]) {
      const call = await fetch(`${hub.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { origin: 'https://app.example', authorization: `Bearer ${BOB}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', messages: hello, stream }),
      });
      expect(call.status).toBe(200);
      expect(call.headers.get('access-control-allow-origin')).toBe('https://app.example');
      await call.text();
    }
  });

  it('refuses a preflight from an origin the operator did not allow (none by default)', async () => {
    for (const corsOrigins of [[], ['https://app.example']]) {
      const hub = await harness.start({ corsOrigins });
      const res = await preflight(hub.url, 'https://evil.example');
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('--cors-origin https://evil.example');
    }
  });
});

describe('passthrough', () => {
  // fastify refuses a body with `__proto__`, or `constructor` holding `prototype` (prototype poisoning): not generated.
  const reserved = new Set(['model', 'messages', 'stream', 'stream_options', '__proto__', 'constructor']);
  /** Keys a schema library may leave out of an object it copies (valibot does); the wire carries them like any other. */
  const objectKeys = { prototype: false, constructor: 'c' };
  const extrasWithout = (taken: string[]) =>
    fc.dictionary(fc.string({ maxLength: 12 }).filter((key) => !reserved.has(key) && !taken.includes(key)), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });
  const extras = extrasWithout([]);
  /** What JSON makes of a value (-0 is 0): the wire's own equality. */
  const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

  it('delivers any body to the upstream as sent and any answer to the caller as said, but for model (and stream_options)', async () => {
    const server = await upstream();
    const hub = await harness.start();
    await (await registrar(hub.url, server)).openStream();
    const post = (body: unknown) => fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${BOB}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    await fc.assert(
      fc.asyncProperty(extras, extrasWithout(['role', 'content']), extrasWithout(['choices', 'usage']), fc.boolean(), async (sentExtra, messageExtra, answerExtra, stream) => {
        server.calls.length = 0;
        const sent = { model: 'llama', messages: [{ role: 'user', content: 'x', ...messageExtra }], ...sentExtra, stream };
        const answer = { id: 'a', object: stream ? 'chat.completion.chunk' : 'chat.completion', created: 1, choices: [{ index: 0, finish_reason: 'stop' }], ...answerExtra, model: 'up-model' };
        server.answer = () => (stream ? { sse: [answer, answer] } : { json: answer });
        const res = await post(sent);
        expect(res.status).toBe(200);
        const expectedUpstream = stream ? { ...sent, model: 'up-model', stream_options: { include_usage: true } } : { ...sent, model: 'up-model' };
        expect(server.calls[0]?.body).toEqual(asJson(expectedUpstream));
        const expectedAnswer = asJson({ ...answer, model: 'llama' });
        if (!stream) {
          expect(await res.json()).toEqual(expectedAnswer);
          return;
        }
        const data = (await res.text()).split('\n\n').filter((event) => event.startsWith('data: ')).map((event) => event.slice(6));
        expect(data.slice(0, -1).map((d) => JSON.parse(d))).toEqual([expectedAnswer, expectedAnswer]);
        expect(data.at(-1)).toBe('[DONE]');
      }),
      { numRuns: 40, examples: [false, true].map((stream) => [objectKeys, {}, objectKeys, stream] as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, boolean]) },
    );
  }, 60_000);
});
