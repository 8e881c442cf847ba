// The provider machine over task machines settled by hand: probing, the queue and its limit, wakes and their polls,
// reprobes, a refused apiKey, and tasks sent back when the upstream was gone before they sent anything.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fromPromise, type AnyActorRef } from 'xstate';
import { providerMachine, type ProbeInput, type QueuedTask, type Readiness, type WakeInput, type WakeStarted } from '../../machines/provider.ts';
import { TASK_ERROR } from '../../src/protocol/errors.ts';
import type { InferFrame, TaskResult, WakeFrame } from '../../src/protocol/index.ts';
import { underParent } from './harness.ts';
import { controllable, failure, infer, ok, settled, upstreamLost, wake } from './task-doubles.ts';

/** The task ids of a provider's live task actors (their actor ids are reused names). */
function liveTaskIds(provider: AnyActorRef): string[] {
  return Object.values(provider.getSnapshot().children as Record<string, AnyActorRef>)
    .filter((ref) => ref.src === 'task')
    .map((ref) => (ref.getSnapshot() as { context: { taskId: string } }).context.taskId);
}

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
    const received = (taskId: string, frame: InferFrame | WakeFrame = infer(taskId)) => p.send({ type: 'task.received', frame, receivedAt: Date.now(), sessionId: 's1' });
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
    expect(liveTaskIds(p.child)).toEqual(['c', 'd']);
  });

  it('names its task actors from a few reused actor ids, not the hub task ids', async () => {
    const p = provider({ up: () => true });
    await vi.advanceTimersByTimeAsync(0);
    const actorIds = new Set<string>();
    for (let i = 0; i < 20; i++) {
      p.receive(`t${i}`);
      p.receive(`u${i}`);
      for (const [id, ref] of Object.entries(p.child.getSnapshot().children as Record<string, AnyActorRef>)) if (ref.src === 'task') actorIds.add(id);
      p.runs.get(`t${i}`)!.resolve(ok);
      p.runs.get(`u${i}`)!.resolve(ok);
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(p.received('task.settled')).toHaveLength(40);
    // Two tasks alive at a time: two names, whatever the hub called the forty tasks.
    expect([...actorIds].sort()).toEqual(['task:0', 'task:1']);
    expect(liveTaskIds(p.child)).toEqual([]);
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
    p.runs.get('a')!.reject(failure(TASK_ERROR.upstreamUnreachable, 'refused', false));
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
    p.runs.get('a')!.reject(failure(TASK_ERROR.upstreamHttp, 'upstream answered 401: invalid api key', true, 401));
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
    p.runs.get('a')!.reject(failure(TASK_ERROR.upstreamUnreachable, 'refused', false));
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
