// `hub.url` as a list (SPEC.md, config): a real registrar daemon and two real hubs sharing one state dir (one session
// key: replicas of one hub, as far as session ids go), on 127.0.0.1. The first is stopped and started again.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { HubClient } from '../../src/hub-client.ts';
import { startHub, type Hub, type HubOptions } from '../../src/hub/index.ts';
import { fastHub, fastTiming, TOKEN } from '../support/cluster.ts';
import { captureLogs } from '../support/registrar.ts';

const running: Array<{ close(): Promise<void> } | Daemon> = [];
afterEach(async () => {
  for (const thing of running.splice(0).reverse()) {
    if ('drain' in thing) {
      thing.drain();
      await thing.stopped;
    } else await thing.close();
  }
});

async function hub(stateDir: string, port = 0): Promise<Hub> {
  const options: HubOptions = { ...fastHub, port, stateDir, tokens: { [TOKEN]: { user: 'alice', admin: true } } };
  const started = await startHub(options);
  running.push(started);
  return started;
}

async function ask(hubUrl: string): Promise<number> {
  const res = await fetch(`${hubUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.text();
  return res.status;
}

describe('a registrar with several hub URLs', () => {
  it('moves to the next URL when the first is stopped, and back once it answers again', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'llmr-replicas-'));
    let first = await hub(stateDir);
    const second = await hub(stateDir);
    const { logger, lines } = captureLogs();
    const parsed = parseConfig(
      { hub: { url: [first.url, second.url], token: TOKEN }, providers: [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }], timing: { ...fastTiming, hubFailbackMs: 300 } },
      {},
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    // What `status` shows as the hub (the status tracker listens here).
    const inUse: string[] = [];
    const daemon = await startDaemon({ config: parsed.config, stateDir: await mkdtemp(join(tmpdir(), 'llmr-state-')), logger, observer: { hubUrl: (url) => inUse.push(url) } });
    running.push(daemon);

    await vi.waitFor(async () => expect(await ask(first.url)).toBe(200), { timeout: 5_000, interval: 50 });
    expect(await ask(second.url)).toBe(404);

    const port = first.port;
    await first.close();
    await vi.waitFor(async () => expect(await ask(second.url)).toBe(200), { timeout: 5_000, interval: 50 });
    expect(lines.some((line) => line.level === 40 && line.msg.includes(`hub ${first.url}: unreachable`) && line.msg.includes(`calling ${second.url} now`))).toBe(true);

    first = await hub(stateDir, port);
    await vi.waitFor(async () => expect(await ask(first.url)).toBe(200), { timeout: 5_000, interval: 50 });
    expect(lines.some((line) => line.msg.includes('the first hub URL answers again'))).toBe(true);
    expect(inUse).toEqual([second.url, first.url]);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
  });
});

describe('the hub client with several URLs', () => {
  it('moves on after a 502, 503 or 504 on register, and calls every URL of a list in order', async () => {
    const seen: string[] = [];
    const servers = await Promise.all(
      [503, 201].map(async (status, index) => {
        const server = http.createServer((req, res) => {
          seen.push(`${index}:${req.url}`);
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(status === 201 ? { providerSessionId: 'abcdefgh-1' } : { error: { message: 'no' } }));
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        running.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
        return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      }),
    );
    const changes: string[] = [];
    const client = new HubClient({ url: servers, token: 't', requestTimeoutMs: 1_000, resultDeadlineMs: 1_000, failbackMs: 60_000, onUrlChange: (url, _previous, why) => changes.push(`${url} ${why}`) });
    const body = { providers: [], agents: [] } as unknown as Parameters<HubClient['register']>[0];
    expect((await client.register(body)).status).toBe(503);
    expect(client.url).toBe(servers[1]);
    expect((await client.register(body)).status).toBe(201);
    expect(client.url).toBe(servers[1]);
    expect(seen).toEqual(['0:/api/v1/llms/_provider-register', '1:/api/v1/llms/_provider-register']);
    expect(changes).toEqual([`${servers[1]} register answered 503`]);
  });
});
