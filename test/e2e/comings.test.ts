// Issue 11 end to end: the real hub (`llm-registrar hub`) and the real registrar (`llm-registrar start`) as processes,
// model-server doubles on 127.0.0.1, callers waiting. A registrar that drains or dies, a model server that restarts,
// a cold wake: what callers see, and how soon. Figures are printed, not asserted tightly (two shared cores).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { chat, chatStream, eventually, fastTiming, hubGet, TOKEN } from '../support/cluster.ts';
import { killChildren, runCli, startHubCli, type Running } from '../support/cli.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';

const GRACE_MS = 300;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  killChildren();
  for (const close of closers.splice(0)) await close();
});

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'llmr-comings-'));
}

/** `llm-registrar hub` on a free port with a short stream grace. */
async function startHubProcess(): Promise<{ hub: Running; url: string }> {
  return startHubCli(['--state-dir', join(await scratch(), 'hub'), '--stream-grace-ms', String(GRACE_MS), '--watchdog-ms', '60000'], {
    LLM_REGISTRAR_HUB_ADMIN_TOKEN: TOKEN,
  });
}

/** `llm-registrar start` on its own config and state directory. */
async function startRegistrar(hubUrl: string, providers: Record<string, unknown>[], timing: Record<string, number> = {}): Promise<Running> {
  const dir = await scratch();
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ hub: { url: hubUrl, token: TOKEN }, providers, timing: { ...fastTiming, drainMs: 10_000, ...timing } }));
  return runCli(['start', '--config', config, '--state-dir', join(dir, 'state'), '--no-status']);
}

async function serve(server: Promise<ModelServer>): Promise<ModelServer> {
  const started = await server;
  closers.push(() => started.close());
  return started;
}

const statusOf = async (url: string, name: string) => ((await hubGet(url, `/api/v1/llms/${name}`)).json as { status?: string } | undefined)?.status;

/** A plain call through fetch, with the answer's status, Retry-After and time. */
async function timedCall(url: string, model: string, stream = false): Promise<{ status: number; retryAfter: string | null; ms: number; body: string }> {
  const started = Date.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hello' }] }),
  });
  const body = await response.text();
  return { status: response.status, retryAfter: response.headers.get('retry-after'), ms: Date.now() - started, body };
}

// Five words at 80 ms: each running call lasts about 400 ms, long enough to be caught mid-answer.
const slowModel = { reply: () => 'one two three four five', tokenDelayMs: 80 };

describe('a registrar stopped with callers waiting', () => {
  it('SIGTERM: running calls (plain and streaming, through the openai SDK) finish; a new call gets 503 within 1 s', async () => {
    const model = await serve(startOpenAiServer(slowModel));
    const { url } = await startHubProcess();
    const registrar = await startRegistrar(url, [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }]);
    await eventually(async () => expect(await statusOf(url, 'gpu')).toBe('active'), 15_000);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: TOKEN, maxRetries: 0 });
    const plain = client.chat.completions.create({ model: 'gpu', messages: [{ role: 'user', content: 'hi' }] });
    const streamed = (async () => {
      let text = '';
      for await (const chunk of await client.chat.completions.create({ model: 'gpu', stream: true, messages: [{ role: 'user', content: 'hi' }] })) text += chunk.choices[0]?.delta?.content ?? '';
      return text;
    })();
    await eventually(() => expect(model.inFlight).toBe(2));

    const signalled = Date.now();
    registrar.child.kill('SIGTERM');
    await eventually(() => expect(registrar.output()).toMatch(/drain/i));
    const late = await Promise.all([timedCall(url, 'gpu'), timedCall(url, 'gpu', true)]);
    const [plainAnswer, streamedText] = await Promise.all([plain, streamed]);
    const finished = Date.now() - signalled;
    expect(plainAnswer.choices[0].message.content).toBe('one two three four five');
    expect(plainAnswer.model).toBe('gpu');
    expect(streamedText).toBe('one two three four five');
    for (const answer of late) {
      expect(answer.status, answer.body).toBe(503);
      expect(answer.retryAfter).not.toBeNull();
      expect(answer.body).not.toContain('127.0.0.1');
    }
    expect(await registrar.exited).toBe(0);
    expect(await statusOf(url, 'gpu')).toBe('inactive');
    console.log(
      `SIGTERM with 2 running calls (~400 ms each): they finished ${finished} ms after the signal; ` +
        `calls made during the drain got 503 in ${late[0].ms} ms (plain) and ${late[1].ms} ms (streaming, as an HTTP status); ` +
        `a call after the exit: ${(await timedCall(url, 'gpu')).ms} ms`,
    );
  });

  it('SIGKILL: waiting callers (plain, and streaming before any token) get 503 + Retry-After within streamGraceMs', async () => {
    // The model never answers: what the callers wait on dies with the registrar.
    const model = await serve(startOpenAiServer({ hang: true }));
    const { url } = await startHubProcess();
    const registrar = await startRegistrar(url, [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }]);
    await eventually(async () => expect(await statusOf(url, 'gpu')).toBe('active'), 15_000);
    const waiting = [timedCall(url, 'gpu'), timedCall(url, 'gpu', true)];
    await eventually(() => expect(model.inFlight).toBe(2));

    const killed = Date.now();
    registrar.child.kill('SIGKILL');
    const answers = await Promise.all(waiting);
    const afterKill = answers.map(() => Date.now() - killed);
    const late = await timedCall(url, 'gpu', true);
    for (const answer of [...answers, late]) {
      expect(answer.status, answer.body).toBe(503);
      expect(answer.retryAfter).not.toBeNull();
      expect(answer.body).not.toContain('127.0.0.1');
    }
    console.log(
      `SIGKILL (streamGraceMs ${GRACE_MS}): the waiting callers got 503 + Retry-After ${Math.max(...afterKill)} ms after the kill ` +
        `(streaming: an HTTP status, nothing sent before); a new streaming call: 503 in ${late.ms} ms`,
    );
  });
});

describe('a model server that restarts under a registrar process', () => {
  it('answers a call within 2 s of the server listening again', async () => {
    const model = await serve(startOpenAiServer());
    const { url } = await startHubProcess();
    await startRegistrar(url, [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }], { reprobeMs: 25, reprobeCapMs: 250 });
    await eventually(async () => expect(await statusOf(url, 'gpu')).toBe('active'), 15_000);
    await model.stop();
    const lost = await chat(url, { model: 'gpu', messages: [{ role: 'user', content: 'hello' }] });
    expect(lost.status).toBeGreaterThanOrEqual(500);
    // What the caller reads names the model, never where its server listens.
    expect(JSON.stringify(lost.json)).not.toContain('127.0.0.1');
    expect(JSON.stringify(lost.json)).toContain('gpu');
    await eventually(async () => expect(await statusOf(url, 'gpu')).toBe('unavailable'));
    // Down long enough for the reprobe schedule to reach its cap.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await model.restart();
    const back = Date.now();
    await eventually(async () => expect((await chat(url, { model: 'gpu', messages: [{ role: 'user', content: 'hello' }] })).status).toBe(200), 2_000);
    console.log(`model server restart (reprobe 25 ms doubling to 250 ms): a call succeeded ${Date.now() - back} ms after the server listened again`);
  });
});

/** A wake endpoint that starts the stopped model server `loadMs` after it is called, as a server loading a model. */
async function wakeThatLoads(model: ModelServer, loadMs: number): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => void model.restart(), loadMs);
    res.writeHead(202).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/wake`;
}

describe('a cold wake through the real processes', () => {
  it('a server that loads in 300 ms answers the streaming call in about that (default wake polls)', async () => {
    const model = await serve(startOpenAiServer());
    const wakeUrl = await wakeThatLoads(model, 300);
    await model.stop();
    const { url } = await startHubProcess();
    await startRegistrar(url, [{ name: 'cold', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake: { type: 'http', url: wakeUrl, maxWaitSeconds: 10 } }], {
      wakePollStartMs: 100,
      wakePollMs: 1_500,
    });
    await eventually(async () => expect(await statusOf(url, 'cold')).toBe('hibernating'), 15_000);
    const started = Date.now();
    const answer = await chatStream(url, { model: 'cold', messages: [{ role: 'user', content: 'hello' }] });
    const ms = Date.now() - started;
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('You said: hello');
    console.log(`cold wake through the hub and registrar processes: the call completed in ${ms} ms for a server that loads in 300 ms`);
  });
});
