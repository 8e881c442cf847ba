import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fromPromise } from 'xstate';
import { providerMachine, type ProbeInput, type QueuedTask, type Readiness, type WakeInput, type WakeStarted } from '../../machines/provider.ts';
import { taskMachine, type PostResultInput, type RunTaskInput, type RunTaskOutput } from '../../machines/task.ts';
import type { InferFrame, TaskResult, WakeFrame } from '../../src/protocol/index.ts';
import { underParent } from './harness.ts';

const infer = (taskId: string, llmName = 'local'): InferFrame => ({
  kind: 'infer', taskId, llmName, streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] },
});
const wake = (taskId: string, llmName = 'local'): WakeFrame => ({ kind: 'wake', taskId, llmName });

/** What run-inference throws when the upstream refused the connection before anything was posted. */
const upstreamLost = () => Object.assign(new Error('cannot reach http://127.0.0.1:1/v1: connect ECONNREFUSED'), { kind: 'unreachable', nothingSent: true });
/** The same, after some of the streamed answer had been posted. */
const upstreamLostMidStream = () => Object.assign(new Error('connection to http://127.0.0.1:1/v1 lost mid-answer'), { kind: 'unreachable' });

/** Deferred promises the test resolves by hand, keyed by task id (the latest run of each). */
function controllable() {
  const runs = new Map<string, { resolve: (o: RunTaskOutput) => void; reject: (e: unknown) => void; signal: AbortSignal }>();
  /** Every run of an infer task, in the order they started (a task run again shows twice). */
  const started: string[] = [];
  const posts: PostResultInput[] = [];
  let postFails: unknown;
  const task = taskMachine.provide({
    actors: {
      runTask: fromPromise<RunTaskOutput, RunTaskInput>(({ input, signal }) =>
        input.frame.kind === 'wake'
          ? Promise.resolve({ result: { status: 200, body: { ok: true, ms: 0 } } })
          : new Promise((resolve, reject) => {
              started.push(input.frame.taskId);
              runs.set(input.frame.taskId, { resolve, reject, signal });
            }),
      ),
      postResult: fromPromise<void, PostResultInput>(async ({ input }) => {
        posts.push(input);
        if (postFails) throw postFails;
      }),
    },
  });
  return { task, runs, started, posts, failPosts: (error: unknown) => (postFails = error) };
}

const ok: RunTaskOutput = { result: { status: 200, body: { id: 'x' } } };

/** How the task said it ended: the one `task.settled` its parent heard, without the type. */
function settled(t: ReturnType<typeof underParent>) {
  const events = t.received('task.settled');
  expect(events).toHaveLength(1);
  const { type: _, ...end } = events[0] as Record<string, unknown>;
  return end;
}

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
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'done', upstreamUnreachable: false, upstreamRefusedKey: false });
  });

  it('answers an upstream failure with an error result and flags an unreachable upstream', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0 });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(Object.assign(new Error('connect ECONNREFUSED'), { kind: 'unreachable' }));
    await vi.waitFor(() => expect(t.state()).toBe('failed'));
    expect(c.posts[0].result).toEqual({ error: 'connect ECONNREFUSED' });
    expect(settled(t)).toMatchObject({ outcome: 'failed', upstreamUnreachable: true, upstreamRefusedKey: false });
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

  it('goes back to the queue, once, when its first run finds the upstream gone before anything was sent', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, mayWake: true, seq: 7 });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.waitFor(() => expect(t.state()).toBe('queued'));
    expect(t.received('task.upstreamLost')).toEqual([{ type: 'task.upstreamLost', taskId: 't1', seq: 7 }]);
    expect(c.posts).toEqual([]);
    // Run again, it fails the same way: this time the caller gets the error, and the provider hears it was unreachable.
    t.send({ type: 'task.start' });
    expect(c.started).toEqual(['t1', 't1']);
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.waitFor(() => expect(t.state()).toBe('failed'));
    expect(t.received('task.upstreamLost')).toHaveLength(1);
    expect(c.posts).toEqual([{ taskId: 't1', result: { error: 'cannot reach http://127.0.0.1:1/v1: connect ECONNREFUSED' } }]);
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'failed', upstreamUnreachable: true, upstreamRefusedKey: false });
  });

  it('ends as its second run does, saying nothing of the first one that lost the upstream', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, mayWake: true });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.waitFor(() => expect(t.state()).toBe('queued'));
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.resolve(ok);
    await vi.waitFor(() => expect(t.state()).toBe('done'));
    expect(c.posts).toEqual([{ taskId: 't1', result: ok.result }]);
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'done', upstreamUnreachable: false, upstreamRefusedKey: false });
  });

  it('is cancelled while queued again, posting nothing', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, mayWake: true });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(upstreamLost());
    await vi.waitFor(() => expect(t.state()).toBe('queued'));
    t.send({ type: 'task.cancel' });
    expect(t.state()).toBe('cancelled');
    expect(c.posts).toEqual([]);
    expect(settled(t)).toEqual({ taskId: 't1', outcome: 'cancelled', upstreamUnreachable: false, upstreamRefusedKey: false });
  });

  it('reports the error as before when some of its answer was sent, or its provider has no wake recipe', async () => {
    const c = controllable();
    const streamed = underParent(c.task, { frame: { ...infer('s1'), streaming: true }, receivedAt: 0, mayWake: true });
    const noWake = underParent(c.task, { frame: infer('n1'), receivedAt: 0, mayWake: false });
    streamed.send({ type: 'task.start' });
    noWake.send({ type: 'task.start' });
    c.runs.get('s1')!.reject(upstreamLostMidStream());
    c.runs.get('n1')!.reject(upstreamLost());
    await vi.waitFor(() => expect([streamed.state(), noWake.state()]).toEqual(['failed', 'failed']));
    expect([...streamed.received('task.upstreamLost'), ...noWake.received('task.upstreamLost')]).toEqual([]);
    expect(c.started).toEqual(['s1', 'n1']);
    expect(c.posts.map((post) => post.taskId).sort()).toEqual(['n1', 's1']);
  });

  it('reports any other failure before anything was sent as an error, without running again', async () => {
    const c = controllable();
    const t = underParent(c.task, { frame: infer('t1'), receivedAt: 0, mayWake: true });
    t.send({ type: 'task.start' });
    c.runs.get('t1')!.reject(Object.assign(new Error('upstream answered 500: boom'), { kind: 'http', nothingSent: true }));
    await vi.waitFor(() => expect(t.state()).toBe('failed'));
    expect(t.received('task.upstreamLost')).toEqual([]);
    expect(settled(t)).toMatchObject({ upstreamUnreachable: false, upstreamRefusedKey: false });
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

  const base = { name: 'local', upstream: 'openai at http://127.0.0.1:1/v1', maxConcurrency: 2, maxQueue: 3, wakePollStartMs: 100, wakePollMs: 100, wakeMaxWaitMs: 1_000, reprobeMs: 5_000, reprobeCapMs: 5_000 };

  function provider(options: { up: () => boolean; hasWake?: boolean; wake?: () => Promise<void>; maxConcurrency?: number; timing?: Partial<typeof base> }) {
    let probes = 0;
    const c = controllable();
    const wakes: WakeInput[] = [];
    const machine = providerMachine.provide({
      actors: {
        task: c.task,
        probe: fromPromise<boolean, ProbeInput>(async () => (probes++, options.up())),
        readiness: fromPromise<Readiness, ProbeInput>(async () => ({ ready: (probes++, options.up()), at: Date.now() })),
        wakeRecipe: fromPromise<WakeStarted, WakeInput>(async ({ input }) => {
          const startedAt = Date.now();
          wakes.push(input);
          await options.wake?.();
          return { startedAt };
        }),
      },
    });
    const p = underParent(machine, { ...base, ...options.timing, hasWake: options.hasWake ?? false, maxConcurrency: options.maxConcurrency ?? base.maxConcurrency });
    const received = (taskId: string, frame: InferFrame | WakeFrame = infer(taskId)) => p.send({ type: 'task.received', frame, receivedAt: Date.now() });
    const queued = () => (p.context().queue as QueuedTask[]).map(({ id }) => id);
    return { ...p, ...c, wakes, receive: received, queued, probes: () => probes };
  }

  it('runs at most maxConcurrency tasks and starts the queue in arrival order', async () => {
    const p = provider({ up: () => true });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('active');
    for (const id of ['a', 'b', 'c', 'd']) p.receive(id);
    expect([...p.runs.keys()]).toEqual(['a', 'b']);
    expect(p.queued()).toEqual(['c', 'd']);
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
    expect(p.queued()).toEqual(['c', 'd', 'e']);
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

  it('starts the readiness polls of a wake fast, then doubles the gap up to wakePollMs', async () => {
    const polls: number[] = [];
    let up = false;
    const p = provider({ up: () => (polls.push(Date.now()), up), hasWake: true, timing: { wakePollStartMs: 100, wakePollMs: 400, wakeMaxWaitMs: 10_000 } });
    await vi.advanceTimersByTimeAsync(0);
    const start = Date.now();
    p.receive('a');
    await vi.advanceTimersByTimeAsync(1_300);
    // The first probe (at start) found it down; the wake's polls: 0, then 100, 100, 200, 400, 400, … apart.
    expect(polls.slice(1).map((at) => at - start)).toEqual([0, 100, 200, 400, 800, 1_200]);
    up = true;
    await vi.advanceTimersByTimeAsync(400);
    expect(p.state()).toBe('active');
  });

  it('probes an unavailable provider again 1 × 2^n apart, capped, and from the first delay after it was up', async () => {
    let up = false;
    const p = provider({ up: () => up, timing: { reprobeMs: 1_000, reprobeCapMs: 4_000 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('unavailable');
    const probesAt = (ms: number) => vi.advanceTimersByTimeAsync(ms).then(() => p.probes());
    // Probes after 1, 2, 4, 4 s: at 1, 3, 7, 11 s.
    expect(await probesAt(999)).toBe(1);
    expect(await probesAt(1)).toBe(2);
    expect(await probesAt(2_000)).toBe(3);
    expect(await probesAt(4_000)).toBe(4);
    expect(await probesAt(3_999)).toBe(4);
    expect(await probesAt(1)).toBe(5);
    up = true;
    await vi.advanceTimersByTimeAsync(4_000);
    expect(p.state()).toBe('active');
    up = false;
    p.receive('a');
    p.runs.get('a')!.reject(Object.assign(new Error('refused'), { kind: 'unreachable' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('unavailable');
    const before = p.probes();
    expect(await probesAt(1_000)).toBe(before + 1);
  });

  it('probes at once when a task arrives for an unavailable provider, and runs it when the probe finds it up', async () => {
    let up = false;
    const p = provider({ up: () => up, timing: { reprobeMs: 60_000, reprobeCapMs: 60_000 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('unavailable');
    up = true;
    p.receive('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('active');
    expect(p.started).toEqual(['a']);
  });

  it('is unavailable, saying the apiKey was refused, when the upstream answers 401 or 403, until a probe finds it up', async () => {
    const p = provider({ up: () => true, timing: { reprobeMs: 1_000, reprobeCapMs: 1_000 } });
    await vi.advanceTimersByTimeAsync(0);
    p.receive('a');
    p.runs.get('a')!.reject(Object.assign(new Error('upstream answered 401: invalid api key'), { kind: 'http', status: 401, nothingSent: true }));
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('unavailable');
    expect(p.context().lastError).toBe('the model server refused the apiKey: check apiKey in the config');
    expect(p.received('provider.status').at(-1)).toMatchObject({ status: 'unavailable', error: 'the model server refused the apiKey: check apiKey in the config' });
    expect(p.posts[0].result).toEqual({ error: 'upstream answered 401: invalid api key' });
    // An error result carrying the status (SPEC.md §5) counts the same.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(p.state()).toBe('active');
    expect(p.context().lastError).toBeUndefined();
    p.receive('b');
    p.runs.get('b')!.resolve({ result: { error: 'forbidden', status: 403 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('unavailable');
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
    expect(p.posts[0].result).toEqual({ error: "wake of provider 'local' failed" });
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
    expect(p.posts[0].result).toEqual({ error: "provider 'local' is not reachable: its model server does not answer" });
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

  describe('a task that finds the upstream gone before it sent anything', () => {
    /** A provider with a wake recipe whose upstream is up, then stops on its own; its wake brings it back when let. */
    function sleepy(maxConcurrency?: number) {
      const state = { up: true, wakeGate: undefined as undefined | (() => void) };
      const p = provider({
        maxConcurrency,
        up: () => state.up,
        hasWake: true,
        wake: () => new Promise<void>((resolve) => (state.wakeGate = () => { state.up = true; resolve(); })),
      });
      return { ...p, stop: () => (state.up = false), letWake: () => state.wakeGate!() };
    }

    it('goes back to the queue; the provider probes, wakes the upstream once, then runs it, and its caller gets its answer', async () => {
      const p = sleepy();
      await vi.advanceTimersByTimeAsync(0);
      expect(p.state()).toBe('active');
      p.stop();
      p.receive('a');
      p.runs.get('a')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.state()).toEqual({ waking: 'starting' });
      expect({ queue: p.queued(), running: p.context().running }).toEqual({ queue: ['a'], running: [] });
      expect(p.received('provider.status').map((e) => e.status)).toEqual(['probing', 'active', 'probing', 'hibernating', 'waking']);
      p.letWake();
      await vi.advanceTimersByTimeAsync(0);
      expect(p.state()).toBe('active');
      expect(p.wakes).toHaveLength(1);
      expect(p.started).toEqual(['a', 'a']);
      p.runs.get('a')!.resolve(ok);
      await vi.advanceTimersByTimeAsync(0);
      expect(p.posts).toEqual([{ taskId: 'a', result: ok.result }]);
      expect(p.received('task.settled').map((e) => [e.taskId, e.outcome])).toEqual([['a', 'done']]);
    });

    it('sends back every task that fails so, in their arrival order, ahead of the waiting ones, past the queue limit', async () => {
      const p = sleepy(3);
      await vi.advanceTimersByTimeAsync(0);
      // Three slots, a queue of three: a, b, c run; d, e, f wait, and the queue is full.
      for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) p.receive(id);
      p.stop();
      p.runs.get('b')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.state()).toEqual({ waking: 'starting' });
      expect(p.queued()).toEqual(['b', 'd', 'e', 'f']);
      // c and a fail while the wake is under way: each takes its turn by arrival, and shares the wake.
      p.runs.get('c')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.queued()).toEqual(['b', 'c', 'd', 'e', 'f']);
      p.runs.get('a')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect({ queue: p.queued(), running: p.context().running }).toEqual({ queue: ['a', 'b', 'c', 'd', 'e', 'f'], running: [] });
      // The queue is over its limit by the tasks sent back; a new task is refused, none of the others is lost.
      p.receive('g');
      await vi.advanceTimersByTimeAsync(0);
      expect(p.posts).toEqual([{ taskId: 'g', result: { error: "provider 'local' has 3 tasks waiting; try again later" } }]);
      p.letWake();
      await vi.advanceTimersByTimeAsync(0);
      expect(p.wakes).toHaveLength(1);
      expect(p.started).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
      expect({ queue: p.queued(), running: p.context().running }).toEqual({ queue: ['d', 'e', 'f'], running: ['a', 'b', 'c'] });
      for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) {
        p.runs.get(id)!.resolve(ok);
        await vi.advanceTimersByTimeAsync(0);
      }
      expect(p.started).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'd', 'e', 'f']);
      expect(p.received('task.settled').map((e) => e.outcome)).toEqual(['failed', 'done', 'done', 'done', 'done', 'done', 'done']);
      expect(p.posts.filter((post) => post.taskId !== 'g')).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((taskId) => ({ taskId, result: ok.result })));
    });

    it('is answered with the error when it fails so a second time, and the provider probes again', async () => {
      const p = sleepy();
      await vi.advanceTimersByTimeAsync(0);
      p.stop();
      p.receive('a');
      p.runs.get('a')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      p.letWake();
      await vi.advanceTimersByTimeAsync(0);
      expect(p.state()).toBe('active');
      p.stop();
      p.runs.get('a')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.posts).toEqual([{ taskId: 'a', result: { error: 'cannot reach http://127.0.0.1:1/v1: connect ECONNREFUSED' } }]);
      expect(p.received('task.settled').map((e) => [e.taskId, e.outcome])).toEqual([['a', 'failed']]);
      expect(p.state()).toBe('hibernating');
      expect(p.wakes).toHaveLength(1);
    });

    it('is cancelled while it waits for the wake: it leaves the queue, the wake goes on for the others', async () => {
      const p = sleepy();
      await vi.advanceTimersByTimeAsync(0);
      p.receive('a');
      p.receive('b');
      p.stop();
      p.runs.get('a')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.queued()).toEqual(['a']);
      p.send({ type: 'task.cancel', taskId: 'a' });
      await vi.advanceTimersByTimeAsync(0);
      expect({ queue: p.queued(), running: p.context().running }).toEqual({ queue: [], running: ['b'] });
      expect(p.received('task.settled').map((e) => [e.taskId, e.outcome])).toEqual([['a', 'cancelled']]);
      expect(p.state()).toEqual({ waking: 'starting' });
      expect(p.posts).toEqual([]);
    });

    it('fails with the wake when the wake fails; one sent back while the provider hibernates wakes it again', async () => {
      let up = true;
      let wakes = 0;
      const p = provider({
        up: () => up,
        hasWake: true,
        wake: async () => {
          if (++wakes === 1) throw new Error('exit 3');
          up = true;
        },
      });
      await vi.advanceTimersByTimeAsync(0);
      p.receive('a');
      p.receive('b');
      up = false;
      p.runs.get('a')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.state()).toBe('hibernating');
      expect(p.posts).toEqual([{ taskId: 'a', result: { error: "wake of provider 'local' failed" } }]);
      // `b` was still running on the upstream that went away; it fails now, and wakes the provider again.
      p.runs.get('b')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.wakes).toHaveLength(2);
      expect(p.state()).toBe('active');
      expect(p.started).toEqual(['a', 'b', 'b']);
      p.runs.get('b')!.resolve(ok);
      await vi.advanceTimersByTimeAsync(0);
      expect(p.received('task.settled').map((e) => [e.taskId, e.outcome])).toEqual([['a', 'failed'], ['b', 'done']]);
    });

    it('is answered with the error at once when the provider has no wake recipe', async () => {
      let up = true;
      const p = provider({ up: () => up });
      await vi.advanceTimersByTimeAsync(0);
      p.receive('a');
      up = false;
      p.runs.get('a')!.reject(upstreamLost());
      await vi.advanceTimersByTimeAsync(0);
      expect(p.started).toEqual(['a']);
      expect(p.posts).toEqual([{ taskId: 'a', result: { error: 'cannot reach http://127.0.0.1:1/v1: connect ECONNREFUSED' } }]);
      expect(p.state()).toBe('unavailable');
    });
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
