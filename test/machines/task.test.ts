// The task machine with its actors settled by hand: queued → running → reporting → done | failed | cancelled, and
// back to queued once when its first run lost the upstream before anything was sent.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TASK_ERROR } from '../../src/protocol/errors.ts';
import { underParent } from './harness.ts';
import { controllable, failure, infer, ok, settled, upstreamLost, upstreamLostMidStream } from './task-doubles.ts';

describe('task machine', () => {
  // Its actors answer in promises: the test moves the clock, nothing waits on wall time.
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs once started, posts its result, and settles done', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1' });
    expect(t.state()).toBe('queued');
    t.send({ type: 'task.start' });
    expect(t.state()).toBe('running');
    c.runs.get('t1')!.resolve(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('done');
    expect(c.posts).toEqual([{ taskId: 't1', result: ok.result }]);
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'done', upstreamUnreachable: false, upstreamRefusedKey: false });
  });

  it('runs at once when its provider spawned it with a slot, and waits for task.start once sent back to the queue', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1', mayWake: true, start: true });
    expect(t.state()).toBe('running');
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('queued');
    t.send({ type: 'task.start' });
    expect(t.state()).toBe('running');
    expect(c.started).toEqual(['t1', 't1']);
  });

  it('is answered without running when spawned with a slot and a refusal', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1', start: true, error: 'no' });
    await vi.advanceTimersByTimeAsync(0);
    expect(c.started).toEqual([]);
    expect(t.state()).toBe('failed');
  });

  it('runs and posts on the session its frame was sent to', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 'sent-on' });
    t.send({ type: 'task.start' });
    expect(c.runs.get('t1')!.sessionId).toBe('sent-on');
    c.runs.get('t1')!.resolve(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('done');
    expect(c.postedOn).toEqual(['sent-on']);
  });

  it('answers an upstream failure with an error result and flags an unreachable upstream', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1' });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(failure(TASK_ERROR.upstreamUnreachable, 'connect ECONNREFUSED', false));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('failed');
    expect(c.posts[0].result).toEqual({ error: 'connect ECONNREFUSED' });
    expect(settled(t)).toMatchObject({ outcome: 'failed', upstreamUnreachable: true, upstreamRefusedKey: false });
  });

  it('aborts the upstream call on cancel and posts nothing', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1' });
    t.send({ type: 'task.start' });
    const { signal } = c.runs.get('t1')!;
    t.send({ type: 'task.cancel' });
    expect(t.state()).toBe('cancelled');
    expect(signal.aborted).toBe(true);
    expect(c.posts).toEqual([]);
  });

  it('stops when the hub answers 404 for its result (the task is gone)', async () => {
    const c = controllable();
    c.failPosts(failure(TASK_ERROR.gone, 'the hub no longer knows task t1', false));
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1' });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.resolve(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('cancelled');
  });

  it('goes back to the queue, once, when its first run finds the upstream gone before anything was sent', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1', mayWake: true, seq: 7 });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('queued');
    expect(t.received('task.upstreamLost')).toEqual([{ type: 'task.upstreamLost', taskId: 't1', seq: 7 }]);
    expect(c.posts).toEqual([]);
    // Run again, it fails the same way: this time the caller gets the error, and the provider hears it was unreachable.
    t.send({ type: 'task.start' });
    expect(c.started).toEqual(['t1', 't1']);
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('failed');
    expect(t.received('task.upstreamLost')).toHaveLength(1);
    expect(c.posts).toEqual([{ taskId: 't1', result: { error: 'cannot reach http://127.0.0.1:1/v1: connect ECONNREFUSED' } }]);
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'failed', upstreamUnreachable: true, upstreamRefusedKey: false });
  });

  /** A task whose first run lost the upstream, back in the queue for the provider to wake it and start it again. */
  async function queuedAgainAfterLostUpstream() {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1', mayWake: true });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('queued');
    return { c, t };
  }

  it('ends as its second run does, saying nothing of the first one that lost the upstream', async () => {
    const { c, t } = await queuedAgainAfterLostUpstream();
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.resolve(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('done');
    expect(c.posts).toEqual([{ taskId: 't1', result: ok.result }]);
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'done', upstreamUnreachable: false, upstreamRefusedKey: false });
  });

  it('is cancelled while queued again, posting nothing', async () => {
    const { c, t } = await queuedAgainAfterLostUpstream();
    t.send({ type: 'task.cancel' });
    expect(t.state()).toBe('cancelled');
    expect(c.posts).toEqual([]);
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'cancelled', upstreamUnreachable: false, upstreamRefusedKey: false });
  });

  it('reports the error as before when some of its answer was sent, or its provider has no wake recipe', async () => {
    const c = controllable();
    const streamed = underParent(c.task, { frame: { ...infer('s1'), streaming: true }, receivedAt: 0, sessionId: 's1', mayWake: true });
    const noWake = underParent(c.task, { frame: infer('n1'), receivedAt: 0, sessionId: 's1', mayWake: false });
    streamed.send({ type: 'task.start' });
    noWake.send({ type: 'task.start' });
    c.runs.get('s1')!.reject(upstreamLostMidStream());
    c.runs.get('n1')!.reject(upstreamLost());
    await vi.advanceTimersByTimeAsync(0);
    expect([streamed.state(), noWake.state()]).toEqual(['failed', 'failed']);
    expect([...streamed.received('task.upstreamLost'), ...noWake.received('task.upstreamLost')]).toEqual([]);
    expect(c.started).toEqual(['s1', 'n1']);
    expect(c.posts.map((post) => post.taskId).sort()).toEqual(['n1', 's1']);
  });

  it('reports any other failure before anything was sent as an error, without running again', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1', mayWake: true });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(failure(TASK_ERROR.upstreamHttp, 'upstream answered 500: boom', true, 500));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('failed');
    expect(t.received('task.upstreamLost')).toEqual([]);
    expect(settled(t)).toMatchObject({ upstreamUnreachable: false, upstreamRefusedKey: false });
  });

  it('goes straight to reporting the error it was given, without running', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, sessionId: 's1', error: "provider 'x' not registered locally" });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.state()).toBe('failed');
    expect(c.runs.size).toBe(0);
    expect(c.posts[0].result).toEqual({ error: "provider 'x' not registered locally" });
  });
});
