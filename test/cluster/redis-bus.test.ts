import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TaskFrame } from '../../src/protocol/index.ts';
import { silentLogger } from '../../src/log.ts';
import { RedisBus } from '../../src/hub/state/redis-bus.ts';
import { servicesMissing, startRedis, type Service } from '../support/services.ts';

const missing = servicesMissing();
if (missing) console.warn(`skipped: ${missing}`);

const frame = (taskId: string): TaskFrame => ({ kind: 'wake', taskId, llmName: 'llama' });

describe.skipIf(missing !== undefined)('the replicas\' Redis bus', () => {
  let redis: Service;
  const buses: RedisBus[] = [];
  const bus = async (): Promise<RedisBus> => {
    const created = await RedisBus.connect({ url: redis.url, logger: silentLogger(), replicaTtlMs: 600, heartbeatFlushMs: 20 });
    buses.push(created);
    return created;
  };
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
    await redis?.destroy();
  });

  it('delivers a frame sent on one replica to the replica holding the session\'s stream', async () => {
    const [caller, holder] = [await bus(), await bus()];
    const got: string[] = [];
    await holder.holdStream('s1', (f) => got.push('taskId' in f ? f.taskId : ''));
    await caller.sendFrame('s1', frame('t1'));
    await caller.sendFrame('s1', frame('t2'));
    await vi.waitFor(() => expect(got).toEqual(['t1', 't2']));
  });

  it('re-delivers every unacknowledged frame to the next holder when the holder dies, and never an acknowledged one', async () => {
    const [caller, first] = [await bus(), await bus()];
    const seen: [string, string][] = [];
    await first.holdStream('s2', (f, entryId) => seen.push(['taskId' in f ? f.taskId : '', entryId]));
    await caller.sendFrame('s2', frame('a'));
    await caller.sendFrame('s2', frame('b'));
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    // `a` is answered; `b` never is: its holder dies (it releases nothing, acknowledges nothing).
    await caller.ack('s2', seen[0]![1]);
    const next = await bus();
    const again: string[] = [];
    await next.holdStream('s2', (f) => again.push('taskId' in f ? f.taskId : ''));
    expect(again).toEqual(['b']);
    await caller.sendFrame('s2', frame('c'));
    await vi.waitFor(() => expect(again).toEqual(['b', 'c']));
  });

  it('tells the old holder to let go when the session\'s stream opens on another replica', async () => {
    const [a, b] = [await bus(), await bus()];
    const released: string[] = [];
    a.onRelease((id) => released.push(id));
    await a.holdStream('s3', () => {});
    await b.holdStream('s3', () => {});
    await vi.waitFor(() => expect(released).toEqual(['s3']));
    expect(await a.holderOf('s3')).toBe(b.replicaId);
  });

  it('routes a result to the caller\'s replica and broadcasts heartbeats in batches', async () => {
    const [caller, other] = [await bus(), await bus()];
    const results: string[] = [];
    caller.onResult((taskId, result) => results.push(`${taskId}:${JSON.stringify(result)}`));
    const beats: string[] = [];
    caller.onHeartbeats((notes) => beats.push(notes.map((n) => n.sessionId).join(',')));
    // The caller's replica wrote the frame: its route (session, caller's replica, entry) went with it.
    const entryId = await caller.sendFrame('s9', frame('t9'));
    const route = await other.route('t9');
    expect(route).toEqual({ sessionId: 's9', replica: caller.replicaId, entryId });
    await other.forwardResult(route!.replica, 't9', { error: 'nope' });
    other.noteHeartbeat({ sessionId: 'x', at: 1 });
    other.noteHeartbeat({ sessionId: 'y', at: 2 });
    await vi.waitFor(() => expect(results).toEqual(['t9:{"error":"nope"}']));
    await vi.waitFor(() => expect(beats).toContain('x,y'));
    expect(await other.isAlive(caller.replicaId)).toBe(true);
  });

  it('acknowledges instead of re-delivering a claimed frame whose call ended or whose caller\'s replica died', async () => {
    const [caller, first] = [await bus(), await bus()];
    const seen: string[] = [];
    await first.holdStream('s5', (f) => seen.push('taskId' in f ? f.taskId : ''));
    await caller.sendFrame('s5', frame('ended'));
    await caller.sendFrame('s5', frame('waiting'));
    await caller.sendFrame('s5', frame('orphan'));
    await vi.waitFor(() => expect(seen).toEqual(['ended', 'waiting', 'orphan']));
    // `ended`'s call is over (its route dropped); `orphan`'s caller's replica is gone (its route names a dead one).
    await caller.dropRoute('ended');
    const dead = await bus();
    const orphanRoute = await caller.route('orphan');
    await dead.close();
    const raw = new Redis(redis.url);
    await raw.hset('llmr:task:orphan', 'replica', dead.replicaId);
    const next = await bus();
    const again: string[] = [];
    await next.holdStream('s5', (f) => again.push('taskId' in f ? f.taskId : ''));
    expect(again).toEqual(['waiting']);
    // Acknowledged: the holder after that has nothing of theirs to re-deliver either.
    const pending = (await raw.xpending('llmr:frames:s5', 'hub')) as [number, ...unknown[]];
    expect(pending[0]).toBe(1);
    expect(orphanRoute?.sessionId).toBe('s5');
    raw.disconnect();
  });

  it('sums the calls in flight of every other live replica, and forgets a replica that is gone', async () => {
    const [a, b, c] = [await bus(), await bus(), await bus()];
    await a.syncLoad(new Map([['pool-1', 2]]));
    await b.syncLoad(new Map([['pool-1', 1], ['pool-2', 3]]));
    expect(await c.syncLoad(new Map())).toEqual(new Map([['pool-1', 3], ['pool-2', 3]]));
    expect(await a.syncLoad(new Map([['pool-1', 2]]))).toEqual(new Map([['pool-1', 1], ['pool-2', 3]]));
    // b stops syncing (dead): its counts expire with its TTL (600 ms here), they cannot leak.
    await vi.waitFor(async () => {
      await a.syncLoad(new Map([['pool-1', 2]]));
      expect(await c.syncLoad(new Map())).toEqual(new Map([['pool-1', 2]]));
    }, { timeout: 3_000, interval: 50 });
  });

  it('fails fast while Redis is down and resumes on its own when it is back', async () => {
    const [caller, holder] = [await bus(), await bus()];
    const got: string[] = [];
    await holder.holdStream('s4', (f) => got.push('taskId' in f ? f.taskId : ''));
    await redis.kill();
    await vi.waitFor(() => expect(caller.ready).toBe(false));
    const started = performance.now();
    await expect(caller.sendFrame('s4', frame('lost'))).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(1_000);
    await redis.start();
    await vi.waitFor(() => expect(caller.ready && holder.ready).toBe(true), { timeout: 5_000 });
    // The data went with the server (no persistence here): the holder says again that it holds the stream.
    await vi.waitFor(async () => expect(await caller.holderOf('s4')).toBe(holder.replicaId));
    await caller.sendFrame('s4', frame('after'));
    await vi.waitFor(() => expect(got).toEqual(['after']));
  });
});
