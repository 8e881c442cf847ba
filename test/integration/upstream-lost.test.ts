// A provider that is active and has a wake recipe, whose model server stopped on its own (an idle shutdown, as vLLM
// and llama.cpp setups with a wake hook do): the next call finds it unreachable before anything was sent, goes back
// to its provider's queue, and the provider wakes the server and runs it. The caller sees one answer, never an error,
// and the wake runs once however many calls found the server gone.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chat, chatStream, eventually, hubGet, startCluster, type Cluster } from '../support/cluster.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';

const hello = [{ role: 'user', content: 'hello again' }];
const REPLY = 'back from an idle shutdown with several words';
let cluster: Cluster | undefined;
let model: ModelServer | undefined;
let waker: Server | undefined;

afterEach(async () => {
  await cluster?.close();
  await model?.close();
  await new Promise<void>((resolve) => (waker ? waker.close(() => resolve()) : resolve()));
  cluster = model = waker = undefined;
});

async function statusOf(c: Cluster, name: string): Promise<unknown> {
  return (await hubGet(c.url, `/api/v1/llms/${name}`)).json?.status;
}

/**
 * A published provider with an http wake recipe that starts its model server again, once the server is up and
 * the hub shows it active; then the server stops on its own, and nobody has noticed yet.
 */
async function idleShutdown(): Promise<{ c: Cluster; wakes: () => number }> {
  model = await startOpenAiServer({ reply: () => REPLY, tokenDelayMs: 2 });
  let wakes = 0;
  waker = createServer((_req, res) => {
    wakes++;
    void model!.restart().then(() => res.writeHead(202).end());
  });
  await new Promise<void>((resolve) => waker!.listen(0, '127.0.0.1', resolve));
  const wakeUrl = `http://127.0.0.1:${(waker.address() as AddressInfo).port}/wake`;
  const c = (cluster = await startCluster({
    providers: [{ name: 'idle', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake: { type: 'http', url: wakeUrl, maxWaitSeconds: 5 } }],
  }));
  await eventually(async () => expect(await statusOf(c, 'idle')).toBe('active'));
  await model.stop();
  expect(await statusOf(c, 'idle')).toBe('active');
  return { c, wakes: () => wakes };
}

describe('an active provider whose model server stopped on its own', () => {
  it('wakes it on the next call, which gets its answer', async () => {
    const { c, wakes } = await idleShutdown();
    const { status, json } = await chat(c.url, { model: 'idle', messages: hello });
    expect(status).toBe(200);
    expect(json.choices[0].message.content).toBe(REPLY);
    expect(wakes()).toBe(1);
    expect(model!.requests).toHaveLength(1);
    await eventually(async () => expect(await statusOf(c, 'idle')).toBe('active'));
    expect(c.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0);
  });

  it('wakes it on the next streamed call, whose text arrives once, whole', async () => {
    const { c, wakes } = await idleShutdown();
    const call = await chatStream(c.url, { model: 'idle', messages: hello });
    expect(call.status).toBe(200);
    expect(call.text).toBe(REPLY);
    expect(call.events.at(-1)).toBe('[DONE]');
    expect(call.events.filter((data) => data.includes('"error"'))).toEqual([]);
    expect(wakes()).toBe(1);
    expect(model!.requests).toHaveLength(1);
  });

  it('wakes it once for several calls that found it gone, and answers each of them', async () => {
    const { c, wakes } = await idleShutdown();
    const [plain, streamed, other] = await Promise.all([
      chat(c.url, { model: 'idle', messages: hello }),
      chatStream(c.url, { model: 'idle', messages: hello }),
      chat(c.url, { model: 'idle', messages: hello }),
    ]);
    expect([plain.status, streamed.status, other.status]).toEqual([200, 200, 200]);
    expect([plain.json.choices[0].message.content, streamed.text, other.json.choices[0].message.content]).toEqual([REPLY, REPLY, REPLY]);
    expect(wakes()).toBe(1);
    expect(model!.requests).toHaveLength(3);
  });
});
