// Issue 11, the registrar's side, on 127.0.0.1 with the real hub: a model server that restarts is back within the
// reprobe schedule; `model: "*"` publishes what the server lists and follows it as models come and go; a GGUF path is
// published under its clean name; a server that answers 503 while it loads is published once it is ready; a wake
// whose server loads in 300 ms costs about that; an upstream that refuses the apiKey shows as unavailable.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chat, eventually, hubGet, startCluster, type Cluster } from '../support/cluster.ts';
import { startOllamaServer, startOpenAiServer, type ModelServer } from '../support/model-server.ts';
import { guardProcess } from '../support/process-guard.ts';

guardProcess();

let cluster: Cluster | undefined;
const servers: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  for (const server of servers.splice(0)) await server.close();
});

async function serve<T extends { close(): Promise<void> }>(server: Promise<T>): Promise<T> {
  const started = await server;
  servers.push(started);
  return started;
}

const ask = (model: string, content = 'hello') => chat(cluster!.url, { model, messages: [{ role: 'user', content }] });
const rowNames = async () => ((await hubGet(cluster!.url, '/api/v1/llms')).json as { name: string }[]).map((row) => row.name).sort();
const rowOf = async (name: string) => (await hubGet(cluster!.url, `/api/v1/llms/${name}`)).json as { status?: string; model?: string } | undefined;

describe('a model server that stops and comes back', () => {
  it('answers a call within 2 s of the server answering again (reprobe at 50 ms doubling to 400 ms)', async () => {
    const model = await serve(startOpenAiServer());
    cluster = await startCluster({ providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }], timing: { reprobeMs: 50, reprobeCapMs: 400 } });
    await eventually(async () => expect((await rowOf('gpu'))?.status).toBe('active'));
    await model.stop();
    // The call that finds it gone fails; the provider is unavailable and the hub is told.
    expect((await ask('gpu')).status).toBeGreaterThanOrEqual(500);
    await eventually(async () => expect((await rowOf('gpu'))?.status).toBe('unavailable'));
    // Long enough down for the schedule to reach its cap.
    await new Promise((resolve) => setTimeout(resolve, 800));
    await model.restart();
    const back = Date.now();
    await eventually(async () => expect((await ask('gpu')).status).toBe(200), 2_000);
    console.log(`model server restart: a call succeeded ${Date.now() - back} ms after the server listened again`);
  });
});

describe('model: "*"', () => {
  it('publishes every model an Ollama lists, and rows follow as models are pulled and removed', async () => {
    const ollama: ModelServer = await serve(startOllamaServer({ models: ['llama3.2:3b', 'qwen2.5:7b'] }));
    cluster = await startCluster({ providers: [{ name: 'ollama', type: 'ollama', baseUrl: ollama.baseUrl, model: '*' }], timing: { modelSyncMs: 50 } });
    await eventually(async () => expect(await rowNames()).toEqual(['llama3.2:3b', 'qwen2.5:7b']));
    await eventually(async () => expect((await rowOf('qwen2.5:7b'))?.status).toBe('active'));
    const answer = await ask('qwen2.5:7b', 'which model?');
    expect(answer.status).toBe(200);
    expect(ollama.requests.at(-1)?.body).toMatchObject({ model: 'qwen2.5:7b' });

    ollama.script.models = ['llama3.2:3b', 'phi4:14b'];
    await eventually(async () => expect(await rowNames()).toEqual(['llama3.2:3b', 'phi4:14b']));
    await eventually(async () => expect((await ask('phi4:14b')).status).toBe(200));
    expect(ollama.requests.at(-1)?.body).toMatchObject({ model: 'phi4:14b' });
    expect((await ask('qwen2.5:7b')).status).toBe(404);
  });

  it('names a listed GGUF path by its base name, under publishName, and sends the path upstream', async () => {
    const llama = await serve(startOpenAiServer({ models: ['/models/Qwen-7B-Q4_K_M.gguf'] }));
    cluster = await startCluster({ providers: [{ name: 'llama', type: 'openai', baseUrl: llama.baseUrl, model: '*', publishName: 'box' }], timing: { modelSyncMs: 50 } });
    await eventually(async () => expect(await rowNames()).toEqual(['box/Qwen-7B-Q4_K_M']));
    const row = await rowOf('box/Qwen-7B-Q4_K_M');
    // Callers see the model's name, never where its file lies.
    expect(row?.model).toBe('Qwen-7B-Q4_K_M');
    await eventually(async () => expect((await rowOf('box/Qwen-7B-Q4_K_M'))?.status).toBe('active'));
    expect((await ask('box/Qwen-7B-Q4_K_M')).status).toBe(200);
    expect(llama.requests.at(-1)?.body).toMatchObject({ model: '/models/Qwen-7B-Q4_K_M.gguf' });
  });

  it('publishes the models of a server that answers 503 while it loads, once it is ready', async () => {
    const llama = await serve(startOpenAiServer({ notReady: true, models: ['tiny.gguf'] }));
    cluster = await startCluster({ providers: [{ name: 'llama', type: 'openai', baseUrl: llama.baseUrl, model: '*' }], timing: { modelSyncMs: 50 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await rowNames()).toEqual([]);
    llama.script.notReady = false;
    await eventually(async () => expect(await rowNames()).toEqual(['tiny']));
    await eventually(async () => expect((await ask('tiny')).status).toBe(200));
  });
});

describe('a provider that answers 503 while it loads', () => {
  it('is unavailable while it loads, then active within the reprobe schedule, and a call succeeds', async () => {
    const llama = await serve(startOpenAiServer({ notReady: true }));
    cluster = await startCluster({ providers: [{ name: 'llama', type: 'openai', baseUrl: llama.baseUrl, model: 'tiny' }], timing: { reprobeMs: 50, reprobeCapMs: 200 } });
    await eventually(async () => expect(cluster!.daemon.actor!.getSnapshot().context.providerStatus.llama).toBe('unavailable'));
    await eventually(async () => expect((await rowOf('llama'))?.status).toBe('unavailable'));
    llama.script.notReady = false;
    await eventually(async () => expect((await ask('llama')).status).toBe(200), 2_000);
    expect((await rowOf('llama'))?.status).toBe('active');
  });
});

describe('an upstream that refuses the apiKey', () => {
  it('marks the provider unavailable, saying so, on the hub too', async () => {
    // llama-server does not check keys on /v1/models: the probe finds it up, the call is refused.
    const llama = await serve(startOpenAiServer({ failWith: 401 }));
    cluster = await startCluster({ providers: [{ name: 'llama', type: 'openai', baseUrl: llama.baseUrl, model: 'tiny', apiKey: 'wrong' }], timing: { reprobeMs: 60_000, reprobeCapMs: 60_000 } });
    await eventually(async () => expect((await rowOf('llama'))?.status).toBe('active'));
    expect((await ask('llama')).status).toBeGreaterThanOrEqual(400);
    await eventually(async () => expect((await rowOf('llama'))?.status).toBe('unavailable'));
    const provider = cluster.daemon.actor!.getSnapshot().children['provider:llama']!.getSnapshot().context as { lastError?: string };
    expect(provider.lastError).toBe('the model server refused the apiKey: check apiKey in the config');
  });
});

/** A wake endpoint that starts the (stopped) model server `loadMs` after it is called, as a server loading a model. */
async function wakeThatLoads(model: ModelServer, loadMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => void model.restart(), loadMs);
    res.writeHead(202).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/wake`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('a cold wake', () => {
  it('costs about the load time: a server that loads in 300 ms answers the call in under 600 ms', async () => {
    const model = await serve(startOpenAiServer());
    // Listening first: the model server's port, once freed, could be given to it.
    const wake = await serve(wakeThatLoads(model, 300));
    await model.stop();
    // The default wake polls (100 ms, doubling to wakePollMs), not the tests' fast ones.
    cluster = await startCluster({
      providers: [{ name: 'cold', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake: { type: 'http', url: wake.url, maxWaitSeconds: 10 } }],
      timing: { wakePollStartMs: 100, wakePollMs: 1_500 },
    });
    await eventually(async () => expect((await rowOf('cold'))?.status).toBe('hibernating'));
    const started = Date.now();
    const answer = await ask('cold');
    const ms = Date.now() - started;
    expect(answer.status).toBe(200);
    console.log(`cold wake: the call completed in ${ms} ms for a server that loads in 300 ms (polls at 0, 100, 200, 400 ms)`);
  });

  it('fails the waiting call at once when the wake command exits non-zero, not after maxWaitSeconds', async () => {
    const model = await serve(startOpenAiServer());
    await model.stop();
    cluster = await startCluster({
      providers: [{ name: 'cold', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake: { type: 'command', command: process.execPath, args: ['-e', 'process.exit(3)'], maxWaitSeconds: 60 } }],
    });
    await eventually(async () => expect((await rowOf('cold'))?.status).toBe('hibernating'));
    const started = Date.now();
    const answer = await ask('cold');
    expect(answer.status).toBeGreaterThanOrEqual(500);
    expect(JSON.stringify(answer.json)).toContain('exited with code 3');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
