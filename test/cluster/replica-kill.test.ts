// Replicas as real `llm-registrar hub` processes on a real PostgreSQL and Redis, one SIGKILLed: the registrar whose
// task stream it held reconnects through the balancer to another replica, and the call it had not answered is
// re-delivered there, answered once; a caller on the killed replica has its connection cut, and its frame is done with.
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Daemon } from '../../src/daemon.ts';
import { killChildren, runCli, type Running } from '../support/cli.ts';
import { startDaemonAgainst, stopDaemon, TOKEN } from '../support/cluster.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';
import { startRoundRobinProxy, type RoundRobinProxy } from '../support/round-robin-proxy.ts';
import { freePort, servicesMissing, startPostgres, startRedis, type Service } from '../support/services.ts';

const missing = servicesMissing();
if (missing) console.warn(`skipped: ${missing}`);

interface Replica {
  url: string;
  process: Running;
}

describe.skipIf(missing !== undefined)('a replica SIGKILLed', () => {
  let redis: Service;
  let postgres: Service;
  let stateDir: string;
  let model: ModelServer;
  let proxy: RoundRobinProxy;
  let daemon: Daemon | undefined;
  const replicas: Replica[] = [];

  const replica = async (port: number): Promise<Replica> => {
    const url = `http://127.0.0.1:${port}`;
    const args = ['hub', '--port', String(port), '--store', postgres.url, '--bus', redis.url, '--watchdog-ms', '3000', '--keepalive-ms', '100', '--stream-grace-ms', '5000', '--state-dir', stateDir, '--log-level', 'warn'];
    const process = runCli(args, { LLM_REGISTRAR_HUB_ADMIN_TOKEN: TOKEN });
    await vi.waitFor(async () => expect((await fetch(`${url}/healthz`)).ok).toBe(true), { timeout: 15_000, interval: 50 });
    const started = { url, process };
    replicas.push(started);
    return started;
  };

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    stateDir = await mkdtemp(join(tmpdir(), 'llmr-replicas-'));
    model = await startOpenAiServer({ reply: () => 'one two three four five six seven eight', tokenDelayMs: 100 });
  }, 60_000);
  afterAll(async () => {
    await stopDaemon(daemon);
    await proxy?.close();
    killChildren();
    await model?.close();
    await Promise.all([redis?.destroy(), postgres?.destroy()]);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('re-delivers the frame it held to the replica the registrar reconnects to, answered once', async () => {
    const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()];
    const a = await replica(portA);
    const b = await replica(portB);
    // The registrar reaches the hub through a balancer over B and C; C is not up yet, so its stream opens on B.
    proxy = await startRoundRobinProxy([b.url, `http://127.0.0.1:${portC}`]);
    daemon = await startDaemonAgainst(proxy.url, { providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }] });
    const caller = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
    await vi.waitFor(async () => expect((await caller.models.list()).data.map((m) => m.id)).toContain('gpu'), { timeout: 10_000, interval: 50 });
    await replica(portC);

    const call = caller.chat.completions.create({ model: 'gpu', messages: [{ role: 'user', content: 'hi' }] });
    await vi.waitFor(() => expect(model.inFlight).toBe(1), { timeout: 5_000, interval: 10 });
    b.process.child.kill('SIGKILL');
    const answer = await call;
    expect(answer.choices[0]!.message.content).toBe('one two three four five six seven eight');
    // The registrar dedupes the re-delivered frame by taskId: the model was asked once.
    expect(model.requests).toHaveLength(1);
    // And the next call is served through C.
    const next = await caller.chat.completions.create({ model: 'gpu', messages: [{ role: 'user', content: 'again' }] });
    expect(next.choices[0]!.message.content).toContain('one two');
  }, 60_000);

  it('cuts the connection of a caller on the killed replica; the registrar stops that work', async () => {
    // B comes back (the balancer reaches it again); the registrar's stream stays on C; the caller is on A.
    await replica(Number(new URL(replicas[1]!.url).port));
    const a = replicas[0]!;
    const caller = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
    const before = model.aborted;
    const call = caller.chat.completions.create({ model: 'gpu', messages: [{ role: 'user', content: 'cut' }], stream: true }).then(
      async (stream) => {
        for await (const _ of stream);
        return 'finished';
      },
      () => 'cut',
    );
    await vi.waitFor(() => expect(model.inFlight).toBe(1), { timeout: 5_000, interval: 10 });
    a.process.child.kill('SIGKILL');
    expect(await call.catch(() => 'cut')).toBe('cut');
    // Its next chunk POST is answered 404 (the caller's replica is dead): the registrar cancels the upstream call.
    await vi.waitFor(() => expect(model.aborted).toBe(before + 1), { timeout: 10_000, interval: 20 });
    // And its frame is acknowledged: no replica that takes the stream later delivers it again.
    const raw = new Redis(redis.url);
    const pending = await Promise.all((await raw.keys('llmr:frames:*')).map(async (stream) => ((await raw.xpending(stream, 'hub')) as [number])[0]));
    raw.disconnect();
    expect(pending.reduce((sum, count) => sum + count, 0)).toBe(0);
  }, 60_000);
});
