// The retries of one result (src/hub-client.ts): the same backoff as every other of the registrar
// (machines/backoff.ts) under the name RESULT_RETRY, checked attempt by attempt against a real HTTP server that
// refuses the first posts with 503. The jitter source is pinned; the waits are checked from below only (a loaded
// machine makes them longer, never shorter).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from '../../machines/backoff.ts';
import { HubCallError, HubClient, RESULT_RETRY } from '../../src/hub-client.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A hub whose result route answers `statuses` in turn, then 200; the arrival time of every post. */
async function refusingHub(statuses: number[]): Promise<{ url: string; arrivals: number[]; bodies: string[] }> {
  const arrivals: number[] = [];
  const bodies: string[] = [];
  server = createServer((req, res) => {
    arrivals.push(performance.now());
    let body = '';
    req.on('data', (piece: Buffer) => (body += piece));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(statuses.shift() ?? 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals, bodies };
}

describe('result retry policy', () => {
  it('is 50 ms × 2^attempt, at most 2 s, drawn in [½, 1] of the step', () => {
    const table = [0, 1, 2, 3, 4, 5, 6, 7].map((attempt) => [backoffDelay(attempt, RESULT_RETRY, 0), backoffDelay(attempt, RESULT_RETRY, 1)]);
    expect(table).toEqual([
      [25, 50],
      [50, 100],
      [100, 200],
      [200, 400],
      [400, 800],
      [800, 1_600],
      [1_000, 2_000],
      [1_000, 2_000],
    ]);
  });

  it('posts the same body again after each wait the policy chose, and stops at the first 2xx', async () => {
    const hub = await refusingHub([503, 503, 503]);
    const draws = [0.2, 0.6, 1];
    const client = new HubClient({ url: hub.url, token: 't', requestTimeoutMs: 1_000, resultDeadlineMs: 10_000, random: () => draws.shift()! });
    await client.postResult('t-1', { error: 'boom' });
    expect(hub.bodies).toEqual(Array(4).fill(JSON.stringify({ error: 'boom' })));
    const waits = hub.arrivals.slice(1).map((at, i) => at - hub.arrivals[i]);
    const chosen = [0.2, 0.6, 1].map((draw, attempt) => backoffDelay(attempt, RESULT_RETRY, draw));
    expect(chosen).toEqual([30, 80, 200]);
    for (const [i, wait] of waits.entries()) expect(wait).toBeGreaterThanOrEqual(chosen[i] - 1);
  });

  it('gives up at the result deadline, saying so, without waiting past it', async () => {
    const hub = await refusingHub(Array(100).fill(503));
    const client = new HubClient({ url: hub.url, token: 't', requestTimeoutMs: 1_000, resultDeadlineMs: 300, random: () => 1 });
    const started = performance.now();
    const error = await client.postResult('t-2', { error: 'boom' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubCallError);
    expect((error as Error).message).toBe('result of task t-2 lost: the hub did not take it within 300 ms');
    // 50 + 100 ms waits fit in 300 ms, the next 200 does not: three posts at most (fewer when the posts are slow),
    // and the deadline, not the wait, ends it.
    expect(hub.arrivals.length).toBeGreaterThanOrEqual(1);
    expect(hub.arrivals.length).toBeLessThanOrEqual(3);
    expect(performance.now() - started).toBeGreaterThanOrEqual(299);
  });
});
