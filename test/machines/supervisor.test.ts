import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, type AnyActorRef, type AnyEventObject } from 'xstate';
import { publishedNames } from '../../machines/selectors.ts';
import type { AnswerRestartedInput, SupervisorInput } from '../../machines/supervisor.ts';
import type { PostResultInput, RunTaskInput, RunTaskOutput } from '../../machines/task.ts';
import { provideSupervisor } from '../../machines/wiring.ts';
import { TASK_ERROR, type TaskFailure } from '../../src/protocol/errors.ts';
import { emptyCatalog, streamingSession, upProvider } from './instant-actors.ts';
import { infer } from './task-doubles.ts';


const TIMING = { heartbeatMs: 100, backoffBaseMs: 100, backoffCapMs: 1_000, streamIdleMs: 1_000 };

function start(overrides: Partial<SupervisorInput> = {}) {
  const posts: PostResultInput[] = [];
  let answerRestarted!: () => void;
  const restartedAnswered = new Promise<void>((resolve) => (answerRestarted = resolve));
  const runs = new Map<string, { resolve: (o: RunTaskOutput) => void; reject: (e: unknown) => void; signal: AbortSignal; sessionId: string }>();
  let stream: ((event: AnyEventObject) => void) | undefined;
  const leaves: string[] = [];
  const machine = provideSupervisor({
    task: {
      // As the real run does, it delivers what it produced.
      runTask: fromPromise<RunTaskOutput, RunTaskInput>(async ({ input, signal }) => {
        const output = await new Promise<RunTaskOutput>((resolve, reject) => runs.set(input.frame.taskId, { resolve, reject, signal, sessionId: input.sessionId }));
        posts.push({ taskId: input.frame.taskId, result: output.result, sessionId: input.sessionId });
        return output;
      }),
      postResult: fromPromise<void, PostResultInput>(async ({ input }) => void posts.push(input)),
    },
    supervisor: {
      answerRestarted: fromPromise<void, AnswerRestartedInput>(async ({ input }) => {
        if (input.tasks.length === 0) return;
        await restartedAnswered;
        for (const { taskId } of input.tasks) posts.push({ taskId, result: { error: 'registrar restarted' }, sessionId: input.sessionId });
      }),
    },
    provider: upProvider,
    // Frames go where the session says, as the real stream sends them: to the supervisor.
    session: streamingSession(
      (send) => (stream = send),
      (sessionId) => leaves.push(sessionId),
    ),
    catalog: emptyCatalog,
  });
  const actor = createActor(machine, {
    input: {
      session: { timing: TIMING },
      providers: [{ name: 'local', upstream: 'demo', hasWake: false, maxConcurrency: 4, wakePollStartMs: 10, wakePollMs: 10, wakeMaxWaitMs: 100, reprobeMs: 1_000, reprobeCapMs: 1_000, maxQueue: 10 }],
      drainMs: 1_000,
      forceGraceMs: 200,
      restartedTasks: [],
      ...overrides,
    },
  }).start();
  const ok = (id: string) => runs.get(id)!.resolve({ result: { status: 200, body: { id } } });
  return { actor, posts, runs, ok, leaves, answerRestarted, frame: (frame: unknown, sessionId = 's1') => stream!({ type: 'stream.task', frame, receivedAt: Date.now(), sessionId }), send: (event: AnyEventObject) => stream!(event) };
}

describe('supervisor machine', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('routes a frame to the provider named by its wire name and keeps it in flight until answered', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.actor.getSnapshot().context.sessionId).toBe('s1');
    s.frame(infer('t1'));
    expect(s.actor.getSnapshot().context.inFlight.toRecord()).toEqual({ t1: 'local' });
    s.ok('t1');
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toEqual([{ taskId: 't1', result: { status: 200, body: { id: 't1' } }, sessionId: 's1' }]);
    expect(s.actor.getSnapshot().context.inFlight.toRecord()).toEqual({});
  });

  it("answers a frame for an unknown provider with SPEC's error", async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1', 'elsewhere'));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toEqual([{ taskId: 't1', result: { error: "provider 'elsewhere' not registered locally" }, sessionId: 's1' }]);
    expect(Object.keys(s.actor.getSnapshot().children)).not.toContain('t1');
  });

  it('posts each result on the session its frame was sent to, not on the one the hub gave since', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'), 'earlier');
    s.frame(infer('t2', 'elsewhere'), 'earlier');
    s.ok('t1');
    await vi.advanceTimersByTimeAsync(0);
    expect(s.runs.get('t1')).toMatchObject({ sessionId: 'earlier' });
    expect(s.posts.map(({ taskId, sessionId }) => ({ taskId, sessionId }))).toEqual([
      { taskId: 't2', sessionId: 'earlier' },
      { taskId: 't1', sessionId: 'earlier' },
    ]);
  });

  it('runs a re-sent frame once: ids running or recently finished are ignored', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    s.frame(infer('t1'));
    expect(s.runs.size).toBe(1);
    s.ok('t1');
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toHaveLength(1);
  });

  it('answers a malformed frame that names a task, once', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.send({ type: 'stream.badFrame', error: 'request: Invalid type', taskId: 'bad', receivedAt: Date.now(), sessionId: 's1' });
    s.send({ type: 'stream.badFrame', error: 'not valid JSON', receivedAt: Date.now(), sessionId: 's1' });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toEqual([{ taskId: 'bad', result: { error: 'malformed task frame: request: Invalid type' }, sessionId: 's1' }]);
  });

  it('answers a malformed frame that comes while it drains, and stops after the answer', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    await vi.advanceTimersByTimeAsync(0);
    s.actor.send({ type: 'daemon.drain' });
    s.send({ type: 'stream.badFrame', error: 'not valid JSON', taskId: 'bad', receivedAt: Date.now(), sessionId: 's1' });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toEqual([{ taskId: 'bad', result: { error: 'malformed task frame: not valid JSON' }, sessionId: 's1' }]);
    expect(s.actor.getSnapshot().value).toBe('draining');
    s.ok('t1');
    await vi.advanceTimersByTimeAsync(0);
    expect(s.actor.getSnapshot().value).not.toBe('draining');
  });

  it('answers tasks in flight before a restart with `registrar restarted`, and ignores them when re-sent meanwhile', async () => {
    const s = start({ restartedTasks: [{ taskId: 'old', llmName: 'local' }], session: { sessionId: 'before', timing: TIMING } });
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('old'));
    s.frame(infer('new'));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.runs.has('old')).toBe(false);
    expect(s.runs.has('new')).toBe(true);
    expect(s.actor.getSnapshot().context.restarted).toEqual([{ taskId: 'old', llmName: 'local' }]);
    s.answerRestarted();
    await vi.advanceTimersByTimeAsync(0);
    // On the session they were taken on, not the one the hub gave since.
    expect(s.posts).toEqual([{ taskId: 'old', result: { error: 'registrar restarted' }, sessionId: 'before' }]);
    expect(s.actor.getSnapshot().context.restarted).toEqual([]);
    // A frame the hub re-sent before it took the answer may arrive after it: still not run.
    s.frame(infer('old'));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.runs.has('old')).toBe(false);
  });

  it('waits for the answers of the restarted tasks before it stops on a drain', async () => {
    const s = start({ restartedTasks: [{ taskId: 'old', llmName: 'local' }], session: { sessionId: 'before', timing: TIMING } });
    await vi.advanceTimersByTimeAsync(0);
    s.actor.send({ type: 'daemon.drain' });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.actor.getSnapshot().value).toBe('draining');
    s.answerRestarted();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.actor.getSnapshot().status).toBe('done');
  });

  it('cancels a running task and aborts its upstream call', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    s.frame({ kind: 'cancel', taskId: 't1' });
    expect(s.runs.get('t1')!.signal.aborted).toBe(true);
    expect(s.actor.getSnapshot().context.inFlight.toRecord()).toEqual({});
  });

  it('drains: stops taking tasks, finishes the running one, then stops', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    s.actor.send({ type: 'daemon.drain' });
    const session = s.actor.getSnapshot().children.session as AnyActorRef;
    // The stream stays open while t1 runs: the hub's pulse (SPEC.md §6); a task it sends now is answered 503 at once.
    expect(session.getSnapshot().matches('connected')).toBe(true);
    expect(s.actor.getSnapshot().value).toBe('draining');
    s.frame(infer('t2'));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toEqual([{ taskId: 't2', result: { error: 'its registrar is stopping: ask again in a moment', status: 503 }, sessionId: 's1' }]);
    s.ok('t1');
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toHaveLength(2);
    // Its last result posted, the session took leave of the hub before the daemon stopped (SPEC.md §6).
    expect(s.leaves).toEqual(['s1']);
    expect(s.actor.getSnapshot().status).toBe('done');
  });

  it('drains a task sent back to its queue as one still in flight: it runs again, then the daemon stops', async () => {
    const s = start({ providers: [{ name: 'local', upstream: 'demo', hasWake: true, maxConcurrency: 4, wakePollStartMs: 10, wakePollMs: 10, wakeMaxWaitMs: 100, reprobeMs: 1_000, reprobeCapMs: 1_000, maxQueue: 10 }] });
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    const first = s.runs.get('t1')!;
    s.actor.send({ type: 'daemon.drain' });
    first.reject({ code: TASK_ERROR.upstreamUnreachable, message: "model 'local': cannot reach the model server", nothingSent: true } satisfies TaskFailure);
    await vi.advanceTimersByTimeAsync(0);
    // The provider probed (the fake probe says up) and runs it again; the supervisor still waits for it.
    expect(s.runs.get('t1')).not.toBe(first);
    expect(s.actor.getSnapshot().value).toBe('draining');
    expect(s.actor.getSnapshot().context.inFlight.toRecord()).toEqual({ t1: 'local' });
    s.ok('t1');
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toEqual([{ taskId: 't1', result: { status: 200, body: { id: 't1' } }, sessionId: 's1' }]);
    expect(s.actor.getSnapshot().status).toBe('done');
  });

  it('at the drain deadline answers what is left with an error, then stops', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    s.actor.send({ type: 'daemon.drain' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.posts[0].result).toEqual({ error: 'registrar shutting down: the task did not finish before the drain deadline' });
    expect(s.actor.getSnapshot().status).toBe('done');
  });

  it('a second drain forces at once', async () => {
    const s = start();
    await vi.advanceTimersByTimeAsync(0);
    s.frame(infer('t1'));
    s.actor.send({ type: 'daemon.drain' });
    s.actor.send({ type: 'daemon.drain' });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.posts).toHaveLength(1);
    expect(s.actor.getSnapshot().status).toBe('done');
  });

  it('follows a catalog\'s model list: a provider machine per listed model, stopped when it goes, tasks on it answered', async () => {
    const template = { upstream: 'ollama at http://127.0.0.1:1', hasWake: false, maxConcurrency: 4, wakePollStartMs: 10, wakePollMs: 10, wakeMaxWaitMs: 100, reprobeMs: 1_000, reprobeCapMs: 1_000, maxQueue: 10 };
    const s = start({ providers: [{ name: 'a', ...template }], catalogs: [{ source: 'ollama', provider: template, names: ['a'] }] });
    await vi.advanceTimersByTimeAsync(0);
    const children = () => Object.keys(s.actor.getSnapshot().children).filter((id) => id.startsWith('provider:')).sort();
    expect(children()).toEqual(['provider:a']);
    const session = s.actor.getSnapshot().children.session as AnyActorRef;
    expect(session.getSnapshot().value).toMatchObject({ connected: expect.anything() });

    s.actor.send({ type: 'models.listed', source: 'ollama', names: ['a', 'b'] });
    await vi.advanceTimersByTimeAsync(0);
    expect(children()).toEqual(['provider:a', 'provider:b']);
    expect(publishedNames(s.actor.getSnapshot())).toEqual(['a', 'b']);
    // Registered again (the fake register answers at once) with both names.
    expect(session.getSnapshot().context.names).toEqual(['a', 'b']);

    s.frame(infer('t1', 'a'));
    s.actor.send({ type: 'models.listed', source: 'ollama', names: ['b'] });
    await vi.advanceTimersByTimeAsync(0);
    expect(children()).toEqual(['provider:b']);
    expect(s.posts).toEqual([{ taskId: 't1', result: { error: "model 'a' is no longer listed by its server" }, sessionId: 's1' }]);
    expect(s.actor.getSnapshot().context.inFlight.toRecord()).toEqual({});
    expect(session.getSnapshot().context.names).toEqual(['b']);

    // The same list again changes nothing: no register.
    const before = session.getSnapshot();
    s.actor.send({ type: 'models.listed', source: 'ollama', names: ['b'] });
    expect(session.getSnapshot()).toBe(before);
  });
});
