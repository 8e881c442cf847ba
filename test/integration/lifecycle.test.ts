// The session survives the hub: restarts, cuts, and a registrar restart with the same state directory.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chat, chatStream, eventually, hubGet, startCluster, type Cluster } from '../support/cluster.ts';
import { startOpenAiServer } from '../support/model-server.ts';

const hello = [{ role: 'user', content: 'hello' }];
const demo = { name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 };
let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const sessionOf = (c: Cluster) => c.daemon.actor!.getSnapshot().context.sessionId;
const active = async (c: Cluster) =>
  eventually(async () => expect((await hubGet(c.url, '/api/v1/llms/demo')).json?.status).toBe('active'));

describe('session lifecycle', () => {
  it('persists the session id at once, in a file only its owner can read', async () => {
    cluster = await startCluster({ providers: [demo] });
    await active(cluster);
    const file = join(cluster.stateDir, 'state.json');
    await eventually(async () => expect(JSON.parse(await readFile(file, 'utf8')).facts.sessionId).toBe(sessionOf(cluster!)));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('re-registers with the same session id after a hub restart, and serves again', async () => {
    cluster = await startCluster({ providers: [demo] });
    await active(cluster);
    const before = sessionOf(cluster);
    await cluster.restartHub();
    // The new hub knows nothing: the registrar's next heartbeat or stream gets 404 and it registers again.
    await active(cluster);
    expect(sessionOf(cluster)).toBe(before);
    const { status, json } = await chat(cluster.url, { model: 'demo', messages: hello });
    expect(status).toBe(200);
    expect(json.choices[0].message.content).toContain('hello');
  });

  it('keeps retrying while the hub is down, then comes back on its own', async () => {
    cluster = await startCluster({ providers: [demo] });
    await active(cluster);
    await cluster.stopHub();
    await eventually(() => expect(cluster!.daemon.actor!.getSnapshot().children.session!.getSnapshot().value).toMatchObject({ connected: 'backoff' }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await cluster.startHub();
    await active(cluster);
    expect((await chatStream(cluster.url, { model: 'demo', messages: hello })).events.at(-1)).toBe('[DONE]');
  });

  it('reports a provider that went down to the hub with the next heartbeat, and its return', async () => {
    const model = await startOpenAiServer({ reply: () => 'back' });
    cluster = await startCluster({ providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }] });
    const status = async () => (await hubGet(cluster!.url, '/api/v1/llms/gpu')).json?.status;
    await eventually(async () => expect(await status()).toBe('active'));
    await model.stop();
    // The call that finds it down fails with the reason; the registrar re-probes and tells the hub.
    const failed = await chat(cluster.url, { model: 'gpu', messages: hello });
    expect(failed.status).toBe(502);
    // Named once: the registrar's words name the model already.
    expect(failed.json.error.message).toBe("model 'gpu': cannot reach the model server (ECONNREFUSED)");
    await eventually(async () => expect(await status()).toBe('unavailable'));
    await model.restart();
    await eventually(async () => expect(await status()).toBe('active'));
    expect((await chat(cluster.url, { model: 'gpu', messages: hello })).json.choices[0].message.content).toBe('back');
    await model.close();
  });

  it('tells a restarted hub at once that a provider is down, without waiting for a re-probe', async () => {
    const model = await startOpenAiServer();
    await model.stop();
    cluster = await startCluster({ providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }], timing: { reprobeMs: 60_000 } });
    const status = async () => (await hubGet(cluster!.url, '/api/v1/llms/gpu')).json?.status;
    await eventually(async () => expect(await status()).toBe('unavailable'));
    await cluster.restartHub();
    await eventually(async () => expect(await status()).toBe('unavailable'));
    await model.close();
  });

  it('answers tasks that were in flight when the registrar died with `registrar restarted`', async () => {
    const slow = { ...demo, tokenDelayMs: 1_000 };
    cluster = await startCluster({ providers: [slow] });
    await active(cluster);
    const pending = chat(cluster.url, { model: 'demo', messages: hello });
    await eventually(() => expect(cluster!.daemon.actor!.getSnapshot().context.inFlight.size).toBe(1));
    const stateDir = cluster.stateDir;
    await eventually(async () => expect(JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')).facts.inFlight).toHaveLength(1));
    await cluster.killDaemon();
    await cluster.startDaemon();
    const { status, json } = await pending;
    expect(status).toBe(502);
    expect(json.error.message).toBe("model 'demo': registrar restarted");
    // The restarted registrar took the re-sent frame for the answered task as already done: nothing ran it.
    await eventually(() => expect(cluster!.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
  });
});
