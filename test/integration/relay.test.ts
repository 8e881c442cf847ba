// The whole relay over 127.0.0.1: caller → hub → SSE task → registrar → model server → result → hub → caller.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startOllamaServer, startOpenAiServer, type ModelServer } from '../support/model-server.ts';
import { chat, chatStream, eventually, hubGet, startCluster, type Cluster } from '../support/cluster.ts';

const hello = [{ role: 'user', content: 'hello there' }];
let cluster: Cluster | undefined;
let model: ModelServer | undefined;

afterEach(async () => {
  await cluster?.close();
  await model?.close();
  cluster = model = undefined;
});

async function activeOn(c: Cluster, name: string) {
  await eventually(async () => expect((await hubGet(c.url, `/api/v1/llms/${name}`)).json?.status).toBe('active'));
}

describe('relay through hub and registrar', () => {
  it('answers a non-streaming call from an OpenAI-compatible server with a chat.completion', async () => {
    model = await startOpenAiServer({ reply: () => 'four words of answer' });
    cluster = await startCluster({ providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'qwen-7b' }] });
    await activeOn(cluster, 'gpu');
    const { status, json } = await chat(cluster.url, { model: 'gpu', messages: hello });
    expect(status).toBe(200);
    expect(json).toMatchObject({
      object: 'chat.completion',
      // The name the caller asked for, not the upstream's id.
      model: 'gpu',
      choices: [{ index: 0, message: { role: 'assistant', content: 'four words of answer' }, finish_reason: 'stop' }],
    });
    expect(json.usage.total_tokens).toBe(json.usage.prompt_tokens + json.usage.completion_tokens);
    expect(model.requests).toHaveLength(1);
  });

  it('streams tokens to the caller while the model is still generating', async () => {
    const words = Array.from({ length: 12 }, (_, i) => `w${i}`);
    model = await startOpenAiServer({ reply: () => words.join(' '), tokenDelayMs: 25 });
    cluster = await startCluster({ providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'qwen-7b' }] });
    await activeOn(cluster, 'gpu');
    let firstTokenWhileGenerating: boolean | undefined;
    const call = await chatStream(cluster.url, { model: 'gpu', messages: hello }, (data) => {
      if (firstTokenWhileGenerating === undefined && data !== '[DONE]') firstTokenWhileGenerating = model!.inFlight > 0;
    });
    expect(call.status).toBe(200);
    expect(firstTokenWhileGenerating).toBe(true);
    expect(call.text).toBe(words.join(' '));
    expect(call.events.at(-1)).toBe('[DONE]');
    const last = JSON.parse(call.events.at(-2)!);
    expect(last.choices[0].finish_reason).toBe('stop');
    // Tokens coalesce while a chunk POST is in flight, but never all into one.
    expect(call.arrivals.length).toBeGreaterThan(1);
  });

  it("speaks Ollama's native API, streaming and not", async () => {
    model = await startOllamaServer({ reply: () => 'from ollama natively' });
    cluster = await startCluster({ providers: [{ name: 'llama', type: 'ollama', baseUrl: model.baseUrl, model: 'llama3.2:3b' }] });
    await activeOn(cluster, 'llama');
    expect((await chat(cluster.url, { model: 'llama', messages: hello })).json.choices[0].message.content).toBe('from ollama natively');
    expect((await chatStream(cluster.url, { model: 'llama', messages: hello })).text).toBe('from ollama natively');
  });

  it('publishes the built-in demo model, deterministic', async () => {
    cluster = await startCluster({ providers: [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }] });
    await activeOn(cluster, 'demo');
    const a = await chat(cluster.url, { model: 'demo', messages: hello });
    const b = await chatStream(cluster.url, { model: 'demo', messages: hello });
    expect(a.json.choices[0].message.content).toContain('hello there');
    expect(b.text).toBe(a.json.choices[0].message.content);
  });

  it('cancels the upstream request when the caller goes away', async () => {
    model = await startOpenAiServer({ reply: () => 'a b c d e f g h i j k l m n o p', tokenDelayMs: 50 });
    cluster = await startCluster({ providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }] });
    await activeOn(cluster, 'gpu');
    const controller = new AbortController();
    const call = chatStream(cluster.url, { model: 'gpu', messages: hello }, () => controller.abort(), controller.signal).catch(() => 'aborted');
    expect(await call).toBe('aborted');
    await eventually(() => expect(model!.aborted).toBe(1));
    await eventually(() => expect(cluster!.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
  });
});

describe('wake', () => {
  it('wakes a hibernating provider through its http recipe, then runs the call', async () => {
    model = await startOpenAiServer({ reply: () => 'awake now' });
    await model.stop();
    // The wake endpoint brings the model server back, as a power switch or a `systemctl start` hook would.
    let wakes = 0;
    const waker = createServer((_req, res) => {
      wakes++;
      void model!.restart().then(() => res.writeHead(202).end());
    });
    await new Promise<void>((resolve) => waker.listen(0, '127.0.0.1', resolve));
    const wakeUrl = `http://127.0.0.1:${(waker.address() as AddressInfo).port}/wake`;
    cluster = await startCluster({
      providers: [{ name: 'sleepy', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake: { type: 'http', url: wakeUrl, maxWaitSeconds: 5 } }],
    });
    await eventually(async () => expect((await hubGet(cluster!.url, '/api/v1/llms/sleepy')).json?.status).toBe('hibernating'));
    const [first, second] = await Promise.all([
      chat(cluster.url, { model: 'sleepy', messages: hello }),
      chat(cluster.url, { model: 'sleepy', messages: hello }),
    ]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.json.choices[0].message.content).toBe('awake now');
    expect(wakes).toBe(1);
    await activeOn(cluster, 'sleepy');
    waker.close();
  });

  it('wakes through a command recipe spawned without a shell', async () => {
    model = await startOpenAiServer({ reply: () => 'woken by command' });
    await model.stop();
    const marker = `${process.cwd()}/test/support/touch-and-exit.mjs`;
    cluster = await startCluster({
      providers: [{ name: 'cmd', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake: { type: 'command', command: process.execPath, args: [marker], maxWaitSeconds: 5 } }],
    });
    await eventually(async () => expect((await hubGet(cluster!.url, '/api/v1/llms/cmd')).json?.status).toBe('hibernating'));
    setTimeout(() => void model!.restart(), 100);
    const { status, json } = await chat(cluster.url, { model: 'cmd', messages: hello });
    expect(status).toBe(200);
    expect(json.choices[0].message.content).toBe('woken by command');
  });

  it('fails the call with the reason when the wake command exits non-zero', async () => {
    model = await startOpenAiServer();
    await model.stop();
    cluster = await startCluster({
      providers: [{ name: 'broken', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake: { type: 'command', command: process.execPath, args: ['-e', 'console.error("no GPU"); process.exit(3)'] } }],
    });
    await eventually(async () => expect((await hubGet(cluster!.url, '/api/v1/llms/broken')).json?.status).toBe('hibernating'));
    const { status, json } = await chat(cluster.url, { model: 'broken', messages: hello });
    expect(status).toBeGreaterThanOrEqual(500);
    // How the command ended, not its path or what it printed: those stay in the registrar's log.
    expect(JSON.stringify(json)).toMatch(/the wake command exited with code 3/);
    expect(JSON.stringify(json)).not.toContain('no GPU');
  });
});
