// The provider machine's pause flag: in any state its owner may pause it; new tasks are refused with a 503 error that
// says so (nothing is woken or probed for them), running ones finish, the parent hears `paused`; resume reports the
// phase it is in again.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fromPromise } from 'xstate';
import { providerMachine, type ProbeInput, type Readiness, type WakeInput, type WakeStarted } from '../../machines/provider.ts';
import { taskMachine, type PostResultInput, type RunTaskInput, type RunTaskOutput } from '../../machines/task.ts';
import type { InferFrame } from '../../src/protocol/index.ts';
import { underParent } from './harness.ts';

const infer = (taskId: string): InferFrame => ({ kind: 'infer', taskId, llmName: 'local', streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] } });
const base = { name: 'local', upstream: 'openai at http://127.0.0.1:1/v1', maxConcurrency: 1, maxQueue: 3, wakePollStartMs: 100, wakePollMs: 100, wakeMaxWaitMs: 1_000, reprobeMs: 5_000, reprobeCapMs: 5_000 };

function provider(options: { up: boolean; hasWake?: boolean }) {
  const posts: PostResultInput[] = [];
  const runs = new Map<string, (output: RunTaskOutput) => void>();
  const wakes: WakeInput[] = [];
  let probes = 0;
  const task = taskMachine.provide({
    actors: {
      // As the real run does, it delivers what it produced.
      runTask: fromPromise<RunTaskOutput, RunTaskInput>(async ({ input }) => {
        const output = await new Promise<RunTaskOutput>((resolve) => runs.set(input.frame.taskId, resolve));
        posts.push({ taskId: input.frame.taskId, result: output.result, sessionId: input.sessionId });
        return output;
      }),
      postResult: fromPromise<void, PostResultInput>(async ({ input }) => void posts.push(input)),
    },
  });
  const machine = providerMachine.provide({
    actors: {
      task,
      probe: fromPromise<boolean, ProbeInput>(async () => (probes++, options.up)),
      readiness: fromPromise<Readiness, ProbeInput>(async () => ({ ready: (probes++, options.up), at: Date.now() })),
      wakeRecipe: fromPromise<WakeStarted, WakeInput>(async ({ input }) => (wakes.push(input), { startedAt: Date.now() })),
    },
  });
  const p = underParent(machine, { ...base, hasWake: options.hasWake ?? false });
  const statuses = () => p.received('provider.status').map((event) => event.status);
  return { ...p, posts, runs, wakes, statuses, probes: () => probes, receive: (id: string) => p.send({ type: 'task.received', frame: infer(id), receivedAt: Date.now(), sessionId: 's1' }) };
}

describe('provider machine: pause and resume', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('lets the running task finish, refuses new ones with 503 "paused by its owner", and runs again after resume', async () => {
    const p = provider({ up: true });
    await vi.advanceTimersByTimeAsync(0);
    p.receive('running');
    p.send({ type: 'provider.pause', until: 1_000 });
    expect(p.statuses().at(-1)).toBe('paused');
    expect(p.context()).toMatchObject({ paused: true, pausedUntil: 1_000 });
    p.receive('refused');
    await vi.advanceTimersByTimeAsync(0);
    expect(p.posts).toEqual([{ taskId: 'refused', result: { error: "provider 'local' is paused by its owner", status: 503 }, sessionId: 's1' }]);
    p.runs.get('running')!({ result: { status: 200, body: { id: 'x' } } });
    await vi.advanceTimersByTimeAsync(0);
    expect(p.posts.map((post) => post.taskId)).toEqual(['refused', 'running']);

    p.send({ type: 'provider.resume' });
    expect(p.statuses().at(-1)).toBe('active');
    expect(p.context().paused).toBe(false);
    p.receive('after');
    expect([...p.runs.keys()]).toContain('after');
  });

  it('wakes nothing and probes nothing for a task refused while paused', async () => {
    const hibernating = provider({ up: false, hasWake: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(hibernating.state()).toBe('hibernating');
    hibernating.send({ type: 'provider.pause' });
    hibernating.receive('t1');
    await vi.advanceTimersByTimeAsync(0);
    expect(hibernating.state()).toBe('hibernating');
    expect(hibernating.wakes).toEqual([]);

    const unavailable = provider({ up: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(unavailable.state()).toBe('unavailable');
    unavailable.send({ type: 'provider.pause' });
    const probes = unavailable.probes();
    unavailable.receive('t2');
    await vi.advanceTimersByTimeAsync(0);
    expect(unavailable.state()).toBe('unavailable');
    expect(unavailable.probes()).toBe(probes);
    expect(unavailable.posts[0]?.result).toMatchObject({ status: 503 });
  });

  it('reports paused through its changes of state, and the state it reached on resume', async () => {
    const p = provider({ up: false });
    await vi.advanceTimersByTimeAsync(0);
    p.send({ type: 'provider.pause' });
    // The reprobe goes on while paused: the hub hears paused, whatever it finds.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(p.statuses().slice(-2)).toEqual(['paused', 'paused']);
    p.send({ type: 'provider.resume' });
    expect(p.statuses().at(-1)).toBe('unavailable');
    // A resume of a provider that is not paused says nothing.
    const told = p.statuses().length;
    p.send({ type: 'provider.resume' });
    expect(p.statuses()).toHaveLength(told);
  });
});
