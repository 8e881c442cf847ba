import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fromCallback, fromPromise, type AnyActorRef, type AnyEventObject } from 'xstate';
import { backoffDelay } from '../../machines/backoff.ts';
import { sessionMachine, type HeartbeatCommand, type HeartbeatInput, type LeaveInput, type RegisterInput, type TaskStreamInput } from '../../machines/session.ts';
import { underParent } from './harness.ts';

const timing = { heartbeatMs: 100, backoffBaseMs: 1_000, backoffCapMs: 8_000, streamIdleMs: 500 };

function fakes(options: { registerFails?: (attempt: number) => { status?: number } | undefined; leave?: () => Promise<void> } = {}) {
  const registers: RegisterInput[] = [];
  const leaves: LeaveInput[] = [];
  const streams: TaskStreamInput[] = [];
  const heartbeats: HeartbeatInput[] = [];
  const heartbeatNow: AnyEventObject[] = [];
  let streamSend: ((event: AnyEventObject) => void) | undefined;
  let heartbeatSend: ((event: AnyEventObject) => void) | undefined;
  const machine = sessionMachine.provide({
    actors: {
      register: fromPromise<{ sessionId: string }, RegisterInput>(async ({ input }) => {
        registers.push(input);
        const failure = options.registerFails?.(registers.length);
        if (failure) throw Object.assign(new Error(`refused ${failure.status ?? 'network'}`), failure);
        return { sessionId: input.sessionId ?? 'sess-1' };
      }),
      heartbeat: fromCallback<HeartbeatCommand, HeartbeatInput>(({ input, sendBack, receive }) => {
        heartbeats.push(input);
        heartbeatSend = sendBack;
        receive((event) => heartbeatNow.push(event));
      }),
      taskStream: fromCallback<AnyEventObject, TaskStreamInput>(({ input, sendBack }) => {
        streams.push(input);
        streamSend = sendBack;
      }),
      leave: fromPromise<void, LeaveInput>(async ({ input }) => {
        leaves.push(input);
        await options.leave?.();
      }),
    },
  });
  return {
    machine,
    registers,
    leaves,
    streams,
    heartbeats,
    heartbeatNow,
    stream: (event: AnyEventObject) => streamSend!(event),
    heartbeat: (event: AnyEventObject) => heartbeatSend!(event),
  };
}

describe('session machine', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('registers, opens the task stream and starts heartbeating', async () => {
    const f = fakes();
    const s = underParent(f.machine, { timing, random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
    expect(s.received('session.registered')).toEqual([{ type: 'session.registered', sessionId: 'sess-1' }]);
    expect(f.streams).toEqual([{ sessionId: 'sess-1' }]);
    expect(f.heartbeats).toEqual([{ sessionId: 'sess-1', intervalMs: 100 }]);
    f.stream({ type: 'stream.opened' });
    expect(s.state()).toEqual({ connected: { streaming: 'open' } });
  });

  it('backs off exponentially with jitter while the hub is down, and never gives up', async () => {
    const f = fakes({ registerFails: (n) => (n <= 4 ? {} : undefined) });
    const s = underParent(f.machine, { timing, random: () => 0 });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state()).toBe('retrying');
    // random 0 → half of each step: 500, 1000, 2000, 4000
    const delays = s.received('session.retrying').map((e) => e.delayMs);
    expect(delays).toEqual([500]);
    await vi.advanceTimersByTimeAsync(499);
    expect(f.registers).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(f.registers).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000 + 2_000 + 4_000);
    expect(s.received('session.retrying').map((e) => e.delayMs)).toEqual([500, 1_000, 2_000, 4_000]);
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
  });

  it('waits the full backoff cap after a 401 or 409, and keeps trying', async () => {
    const f = fakes({ registerFails: (n) => (n === 1 ? { status: 401 } : n === 2 ? { status: 409 } : undefined) });
    const s = underParent(f.machine, { timing, random: () => 0 });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.received('session.retrying')[0]).toMatchObject({ delayMs: 8_000, error: 'refused 401' });
    await vi.advanceTimersByTimeAsync(8_000);
    expect(s.received('session.retrying')[1]).toMatchObject({ delayMs: 8_000 });
    await vi.advanceTimersByTimeAsync(8_000);
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
  });

  it('forgets a session id the hub says is another user\'s (403) and registers afresh at once, without it', async () => {
    const f = fakes({ registerFails: (n) => (n === 1 ? { status: 403 } : undefined) });
    const s = underParent(f.machine, { timing, sessionId: 'bobs-id-0123456789', random: () => 0 });
    await vi.advanceTimersByTimeAsync(0);
    expect(f.registers).toEqual([{ sessionId: 'bobs-id-0123456789' }, { sessionId: undefined }]);
    expect(s.received('session.forgotten')).toHaveLength(1);
    expect(s.received('session.retrying')).toEqual([]);
    expect(s.received('session.registered')).toEqual([{ type: 'session.registered', sessionId: 'sess-1' }]);
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
  });

  it('treats a 403 to a register without a session id as a refusal, retried at the backoff cap', async () => {
    const f = fakes({ registerFails: (n) => (n <= 2 ? { status: 403 } : undefined) });
    const s = underParent(f.machine, { timing, sessionId: 'stale', random: () => 0 });
    await vi.advanceTimersByTimeAsync(0);
    expect(f.registers).toEqual([{ sessionId: 'stale' }, { sessionId: undefined }]);
    expect(s.state()).toBe('retrying');
    expect(s.received('session.retrying')).toEqual([expect.objectContaining({ delayMs: 8_000 })]);
    expect(s.context().refused).toBe(true);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
  });

  it('re-registers with the same session id when the hub forgets it (heartbeat or stream 404)', async () => {
    const f = fakes();
    const s = underParent(f.machine, { timing, sessionId: 'sticky', random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(0);
    f.heartbeat({ type: 'heartbeat.sessionLost' });
    await vi.advanceTimersByTimeAsync(0);
    f.stream({ type: 'stream.sessionLost' });
    await vi.advanceTimersByTimeAsync(0);
    expect(f.registers).toEqual([{ sessionId: 'sticky' }, { sessionId: 'sticky' }, { sessionId: 'sticky' }]);
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
  });

  it('treats a stream silent past the idle watchdog as a zombie and reconnects after a backoff', async () => {
    const f = fakes();
    const s = underParent(f.machine, { timing, random: () => 0 });
    await vi.advanceTimersByTimeAsync(0);
    f.stream({ type: 'stream.opened' });
    await vi.advanceTimersByTimeAsync(400);
    f.stream({ type: 'stream.activity' });
    await vi.advanceTimersByTimeAsync(400);
    expect(s.state()).toEqual({ connected: { streaming: 'open' } });
    await vi.advanceTimersByTimeAsync(100);
    expect(s.state()).toEqual({ connected: 'backoff' });
    expect(s.context().lastError).toMatch(/silent for 500 ms/);
    await vi.advanceTimersByTimeAsync(500);
    expect(f.streams).toHaveLength(2);
  });

  it('gives up on a stream request the hub never answers after the idle watchdog, and tries again after a backoff', async () => {
    const f = fakes();
    const s = underParent(f.machine, { timing, random: () => 0 });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(499);
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
    await vi.advanceTimersByTimeAsync(1);
    expect(s.state()).toEqual({ connected: 'backoff' });
    expect(s.context().lastError).toMatch(/did not answer the task stream request within 500 ms/);
    await vi.advanceTimersByTimeAsync(500);
    expect(f.streams).toHaveLength(2);
  });

  it('resets the backoff once a stream opens', async () => {
    const f = fakes();
    const s = underParent(f.machine, { timing, random: () => 0 });
    await vi.advanceTimersByTimeAsync(0);
    for (const expected of [500, 1_000, 2_000]) {
      f.stream({ type: 'stream.failed', error: 'cut' });
      expect(s.received('session.retrying').at(-1)?.delayMs).toBe(expected);
      await vi.advanceTimersByTimeAsync(expected);
    }
    f.stream({ type: 'stream.opened' });
    f.stream({ type: 'stream.failed', error: 'cut' });
    expect(s.received('session.retrying').at(-1)?.delayMs).toBe(500);
  });

  it('gives its task stream the supervisor to send frames to, and forwards heartbeat requests and provider statuses to the heartbeat actor', async () => {
    const f = fakes();
    const s = underParent(f.machine, (parent: AnyActorRef) => ({ timing, frames: parent }));
    await vi.advanceTimersByTimeAsync(0);
    expect(f.streams).toEqual([{ sessionId: 'sess-1', frames: s.actor }]);
    s.send({ type: 'session.heartbeatNow' });
    s.send({ type: 'session.providerStatus', name: 'gpu', status: 'unavailable' });
    expect(f.heartbeatNow).toEqual([{ type: 'heartbeat.now' }, { type: 'heartbeat.status', name: 'gpu', status: 'unavailable' }]);
  });

  it('drains with its stream open and heartbeating on (the pulse the hub watches), then stops', async () => {
    const f = fakes();
    const s = underParent(f.machine, { timing });
    await vi.advanceTimersByTimeAsync(0);
    const before = s.state();
    s.send({ type: 'session.drain' });
    expect(s.state()).toEqual(before);
    expect(before).toHaveProperty('connected');
    expect(f.heartbeats).toHaveLength(1);
    s.send({ type: 'session.stop' });
    expect(s.child.getSnapshot().status).toBe('done');
  });
});

describe('backoff policy', () => {
  it.each([
    [0, 0, 2_500], [0, 1, 5_000], [1, 1, 10_000], [2, 1, 20_000], [3, 1, 40_000], [4, 1, 60_000], [9, 1, 60_000], [4, 0, 30_000],
  ])('attempt %i with random %f waits %i ms (5 s base, 60 s cap)', (attempt, random, expected) => {
    expect(backoffDelay(attempt, { baseMs: 5_000, capMs: 60_000 }, random)).toBe(expected);
  });
});

describe('session machine, leaving and publishing', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('takes leave of the hub when the drain is over, then stops', async () => {
    let answer!: () => void;
    const f = fakes({ leave: () => new Promise<void>((resolve) => (answer = resolve)) });
    const s = underParent(f.machine, { timing, random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(0);
    s.send({ type: 'session.drain' });
    s.send({ type: 'session.leave' });
    expect(s.state()).toBe('leaving');
    expect(f.leaves).toEqual([{ sessionId: 'sess-1' }]);
    answer();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state()).toBe('stopped');
  });

  it('has no leave to take without a session: it stops at once', async () => {
    const f = fakes({ registerFails: () => ({}) });
    const s = underParent(f.machine, { timing, random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(0);
    s.send({ type: 'session.drain' });
    s.send({ type: 'session.leave' });
    expect(s.state()).toBe('stopped');
    expect(f.leaves).toEqual([]);
  });

  it('registers again with the same session id and the new names when what is published changes', async () => {
    const f = fakes({ registerFails: (attempt) => (attempt === 2 ? { status: 500 } : undefined) });
    const s = underParent(f.machine, { timing, random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(0);
    f.stream({ type: 'stream.opened' });
    s.send({ type: 'session.publish', names: ['a', 'b'] });
    await vi.advanceTimersByTimeAsync(0);
    expect(f.registers[1]).toEqual({ sessionId: 'sess-1', names: ['a', 'b'] });
    expect(s.state()).toBe('retrying');
    // Not connected: kept for the next register.
    s.send({ type: 'session.publish', names: ['b'] });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(f.registers[2]).toEqual({ sessionId: 'sess-1', names: ['b'] });
    expect(s.state()).toEqual({ connected: { streaming: 'connecting' } });
  });
});
