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
    await other.putRoute('t9', { sessionId: 's9', replica: caller.replicaId, entryId: '1-0' });
    const route = await other.route('t9');
    await other.forwardResult(route!.replica, 't9', { error: 'nope' });
    other.noteHeartbeat({ sessionId: 'x', at: 1 });
    other.noteHeartbeat({ sessionId: 'y', at: 2 });
    await vi.waitFor(() => expect(results).toEqual(['t9:{"error":"nope"}']));
    await vi.waitFor(() => expect(beats).toContain('x,y'));
    expect(await other.isAlive(caller.replicaId)).toBe(true);
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
