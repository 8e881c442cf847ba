import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fromPromise } from 'xstate';
import { providerMachine, type ProbeInput, type WakeInput } from '../../machines/provider.ts';
import { taskMachine, type PostResultInput, type RunTaskInput, type RunTaskOutput } from '../../machines/task.ts';
import type { InferFrame, TaskResult, WakeFrame } from '../../src/protocol/index.ts';
import { underParent } from './harness.ts';

const infer = (taskId: string, llmName = 'local'): InferFrame => ({
  kind: 'infer', taskId, llmName, streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] },
});
const wake = (taskId: string, llmName = 'local'): WakeFrame => ({ kind: 'wake', taskId, llmName });

/** Deferred promises the test resolves by hand, keyed by task id. */
function controllable() {
  const runs = new Map<string, { resolve: (o: RunTaskOutput) => void; reject: (e: unknown) => void; signal: AbortSignal }>();
  const posts: PostResultInput[] = [];
  let postFails: unknown;
  const task = taskMachine.provide({
    actors: {
      runTask: fromPromise<RunTaskOutput, RunTaskInput>(({ input, signal }) =>
        input.frame.kind === 'wake'
          ? Promise.resolve({ result: { status: 200, body: { ok: true, ms: 0 } } })
          : new Promise((resolve, reject) => runs.set(input.frame.taskId, { resolve, reject, signal })),
      ),
      postResult: fromPromise<void, PostResultInput>(async ({ input }) => {
        posts.push(input);
        if (postFails) throw postFails;
      }),
    },
  });
  return { task, runs, posts, failPosts: (error: unknown) => (postFails = error) };
}

const ok: RunTaskOutput = { result: { status: 200, body: { id: 'x' } } };

describe('task machine', () => {
  it('runs once started, posts its result, and settles done', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0 });
    expect(t.state()).toBe('queued');
    t.send({ type: 'task.start' });
    expect(t.state()).toBe('running');
    c.runs.get('t1')!.resolve(ok);
    await vi.waitFor(() => expect(t.state()).toBe('done'));
    expect(c.posts).toEqual([{ taskId: 't1', result: ok.result }]);
    expect(t.child.getSnapshot().output).toEqual({ taskId: 't1', outcome: 'done', upstreamUnreachable: false });
  });

  it('answers an upstream failure with an error result and flags an unreachable upstream', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0 });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(Object.assign(new Error('connect ECONNREFUSED'), { kind: 'unreachable' }));
    await vi.waitFor(() => expect(t.state()).toBe('failed'));
    expect(c.posts[0].result).toEqual({ error: 'connect ECONNREFUSED' });
    expect(t.child.getSnapshot().output).toMatchObject({ outcome: 'failed', upstreamUnreachable: true });
  });

  it('aborts the upstream call on cancel and posts nothing', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0 });
    t.send({ type: 'task.start' });
    const { signal } = c.runs.get('t1')!;
    t.send({ type: 'task.cancel' });
    expect(t.state()).toBe('cancelled');
    expect(signal.aborted).toBe(true);
    expect(c.posts).toEqual([]);
  });

  it('stops when the hub answers 404 for its result (the task is gone)', async () => {
    const c = controllable();
    c.failPosts(Object.assign(new Error('gone'), { name: 'TaskGoneError' }));
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0 });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.resolve(ok);
    await vi.waitFor(() => expect(t.state()).toBe('cancelled'));
  });

  it('goes straight to reporting the error it was given, without running', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, error: "provider 'x' not registered locally" });
    await vi.waitFor(() => expect(t.state()).toBe('failed'));
    expect(c.runs.size).toBe(0);
    expect(c.posts[0].result).toEqual({ error: "provider 'x' not registered locally" });
  });
});

describe('provider machine', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const base = { name: 'local', upstream: 'openai at http://127.0.0.1:1/v1', maxConcurrency: 2, maxQueue: 3, wakePollMs: 100, wakeMaxWaitMs: 1_000, reprobeMs: 5_000 };

  function provider(options: { up: () => boolean; hasWake?: boolean; wake?: () => Promise<void> }) {
    const c = controllable();
    const wakes: WakeInput[] = [];
    const machine = providerMachine.provide({
      actors: {
        task: c.task,
        probe: fromPromise<boolean, ProbeInput>(async () => options.up()),
        wakeRecipe: fromPromise<void, WakeInput>(async ({ input }) => {
          wakes.push(input);
          await options.wake?.();
        }),
      },
    });
    const p = underParent(machine, { ...base, hasWake: options.hasWake ?? false });
    const received = (taskId: string, frame: InferFrame | WakeFrame = infer(taskId)) => p.send({ type: 'task.received', frame, receivedAt: Date.now() });
    return { ...p, ...c, wakes, receive: received };
  }

  it('runs at most maxConcurrency tasks and starts the queue in arrival order', async () => {
    const p = provider({ up: () => true });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('active');
    for (const id of ['a', 'b', 'c', 'd']) p.receive(id);
    expect([...p.runs.keys()]).toEqual(['a', 'b']);
    expect(p.context().queue).toEqual(['c', 'd']);
    p.runs.get('b')!.resolve(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect([...p.runs.keys()]).toEqual(['a', 'b', 'c']);
    p.runs.get('a')!.resolve(ok);
    await vi.advanceTimersByTimeAsync(0);
    expect([...p.runs.keys()]).toEqual(['a', 'b', 'c', 'd']);
    expect(p.received('task.settled').map((e) => e.taskId)).toEqual(['b', 'a']);
    // Finished task actors are let go: a provider that ran 100,000 tasks holds no more of them than one that ran 4.
    expect(Object.keys(p.child.getSnapshot().children).filter((id) => ['a', 'b', 'c', 'd'].includes(id))).toEqual(['c', 'd']);
  });

  it('refuses a task beyond the queue limit with an error result, losing none of the others', async () => {
    const p = provider({ up: () => true });
    await vi.advanceTimersByTimeAsync(0);
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) p.receive(id);
    await vi.advanceTimersByTimeAsync(0);
    expect(p.posts).toEqual([{ taskId: 'f', result: { error: "provider 'local' has 3 tasks waiting; try again later" } }]);
    expect(p.context().queue).toEqual(['c', 'd', 'e']);
  });

  it('wakes a hibernating provider on an infer, once for several tasks, then runs them', async () => {
    let up = false;
    const p = provider({ up: () => up, hasWake: true, wake: async () => { up = true; } });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('hibernating');
    p.receive('a');
    p.receive('w', wake('w'));
    p.receive('b');
    await vi.advanceTimersByTimeAsync(0);
    expect(p.wakes).toHaveLength(1);
    expect(p.state()).toBe('active');
    // Two slots: `a` and the wake task start; the wake answers at once and `b` takes its slot.
    expect([...p.runs.keys()]).toEqual(['a', 'b']);
    expect(p.posts.find((post) => post.taskId === 'w')?.result).toMatchObject({ status: 200, body: { ok: true } });
    expect(p.received('provider.wakePolled')).toHaveLength(1);
  });

  it('polls readiness every wakePollMs after the recipe, heartbeating each poll', async () => {
    let polls = 0;
    // The first probe finds it down; readiness polls at 0, 100, 200 fail, the one at 300 succeeds.
    const p = provider({ up: () => ++polls > 4, hasWake: true });
    await vi.advanceTimersByTimeAsync(0);
    p.receive('a');
    await vi.advanceTimersByTimeAsync(250);
    expect(p.state()).toEqual({ waking: 'waiting' });
    await vi.advanceTimersByTimeAsync(100);
    expect(p.state()).toBe('active');
    expect(p.received('provider.wakePolled')).toHaveLength(4);
  });

  it('gives up a wake past maxWait: back to hibernating, waiting tasks answered with the reason', async () => {
    const p = provider({ up: () => false, hasWake: true });
    await vi.advanceTimersByTimeAsync(0);
    p.receive('a');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(p.state()).toBe('hibernating');
    expect(p.posts[0].result).toEqual({ error: "provider 'local' did not become ready within 1000 ms of its wake" });
  });

  it('fails the waiting tasks when the wake recipe fails', async () => {
    const p = provider({ up: () => false, hasWake: true, wake: () => Promise.reject(new Error('exit 3')) });
    await vi.advanceTimersByTimeAsync(0);
    p.receive('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('hibernating');
    expect(p.posts[0].result).toEqual({ error: "wake of provider 'local' failed: exit 3" });
  });

  it('answers a wake frame with an error when there is no wake recipe', async () => {
    const p = provider({ up: () => true });
    await vi.advanceTimersByTimeAsync(0);
    p.receive('w', wake('w'));
    await vi.advanceTimersByTimeAsync(0);
    expect(p.posts).toEqual([{ taskId: 'w', result: { error: "provider 'local' has no wake recipe" } }]);
  });

  it('is unavailable when down without a recipe; a task re-probes it and fails with where it looked', async () => {
    let up = false;
    const p = provider({ up: () => up });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('unavailable');
    p.receive('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(p.posts[0].result).toEqual({ error: "provider 'local' is not reachable (openai at http://127.0.0.1:1/v1)" });
    up = true;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(p.state()).toBe('active');
  });

  it('re-probes when a task finds the upstream unreachable', async () => {
    let up = true;
    const p = provider({ up: () => up });
    await vi.advanceTimersByTimeAsync(0);
    p.receive('a');
    up = false;
    p.runs.get('a')!.reject(Object.assign(new Error('refused'), { kind: 'unreachable' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('unavailable');
  });

  it('forwards cancel to the task and answers every task at the shutdown deadline', async () => {
    const p = provider({ up: () => true });
    await vi.advanceTimersByTimeAsync(0);
    for (const id of ['a', 'b', 'c']) p.receive(id);
    p.send({ type: 'task.cancel', taskId: 'a' });
    p.send({ type: 'task.abortAll', error: 'shutting down' });
    await vi.advanceTimersByTimeAsync(0);
    const results = Object.fromEntries(p.posts.map((post) => [post.taskId, post.result as TaskResult]));
    expect(results).toEqual({ b: { error: 'shutting down' }, c: { error: 'shutting down' } });
    expect(p.received('task.settled').map((e) => [e.taskId, e.outcome])).toEqual([['a', 'cancelled'], ['b', 'failed'], ['c', 'failed']]);
  });
});
