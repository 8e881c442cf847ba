// The task machine seen from outside: the life of one task frame (the subject), with a test model whose states mirror
// machines/task.ts and whose events are what the model server, the hub (its answers to result posts, cancel frames)
// or a signal can do. The hub holds the subject's final result until the path says how to answer it; the provider runs
// one task at a time, so a blocker task can keep the subject queued.
import { assign, setup } from 'xstate';
import type { CoverageRecorder } from './coverage.ts';
import type { Scenario } from './replay.ts';
import { Stage } from './stage.ts';

export type TaskStimulus =
  | { type: 'blocker.finishes' }
  | { type: 'model.answers' }
  | { type: 'model.fails' }
  | { type: 'chunk.404' }
  | { type: 'task.cancel' }
  | { type: 'signal.term' }
  | { type: 'timer.drainDeadline' }
  | { type: 'timer.forceGrace' }
  | { type: 'result.ok' }
  | { type: 'result.404' }
  | { type: 'result.refused' };

/**
 * How the subject arrives: `free` and `streaming` find the provider idle; `busy` finds it running the blocker;
 * `noWake` is a wake frame for a provider without a wake recipe and `unknown` names a provider nobody publishes, so
 * both are answered with an error at once (the first by the provider, the second by the supervisor itself).
 */
export type Arrival = 'free' | 'streaming' | 'busy' | 'noWake' | 'unknown';

/** The daemon's shutdown, as the supervisor machine goes through it. */
type DaemonPhase = 'running' | 'draining' | 'forcing' | 'stopped';

interface TaskModelContext {
  arrival: Arrival;
  /** The blocker still holds the provider's only slot. */
  slotBusy: boolean;
  daemon: DaemonPhase;
  result: 'none' | 'ok' | 'error';
}

/**
 * A signal, or the drain deadline after one, while the subject has not reached its result yet: every task left is
 * answered with an error (the blocker too, which frees the slot).
 */
const forceThenReport = [
  { guard: 'daemonRunning', actions: 'drain' },
  { guard: 'daemonDraining', target: 'reporting', actions: 'forceWithError' },
] as const;

export const taskModel = setup({
  types: { input: {} as { arrival: Arrival }, context: {} as TaskModelContext, events: {} as TaskStimulus },
  guards: {
    refusedOnArrival: ({ context }) => context.arrival === 'noWake' || context.arrival === 'unknown',
    slotFree: ({ context }) => !context.slotBusy,
    slotBusy: ({ context }) => context.slotBusy && context.daemon !== 'stopped',
    live: ({ context }) => context.daemon !== 'stopped',
    /** The model has not answered yet. */
    unanswered: ({ context }) => context.result === 'none' && context.daemon !== 'stopped',
    /** The model answered and the run is delivering that answer: the hub holds its post. */
    delivering: ({ context }) => context.result === 'ok' && context.daemon !== 'stopped',
    streaming: ({ context }) => context.arrival === 'streaming' && context.result === 'none' && context.daemon !== 'stopped',
    resultIsError: ({ context }) => context.result === 'error' && context.daemon !== 'stopped',
    daemonRunning: ({ context }) => context.daemon === 'running',
    // A draining session keeps its task stream open until it takes leave: cancel frames still arrive.
    takesCancels: ({ context }) => context.daemon === 'running' || context.daemon === 'draining',
    daemonDraining: ({ context }) => context.daemon === 'draining',
    daemonForcing: ({ context }) => context.daemon === 'forcing',
    // The supervisor forwards cancel frames to its providers, which own every task that runs; the error answers the
    // supervisor gives itself (unknown provider) have nothing to stop.
    cancellableWhileReporting: ({ context }) => context.arrival !== 'unknown' && context.daemon !== 'stopped',
  },
  actions: {
    resultOk: assign({ result: 'ok' }),
    resultError: assign({ result: 'error' }),
    drain: assign({ daemon: 'draining' }),
    force: assign({ daemon: 'forcing', slotBusy: false }),
    forceWithError: assign({ daemon: 'forcing', slotBusy: false, result: 'error' }),
    /** The supervisor stops once nothing is in flight any more. */
    settle: assign({ daemon: ({ context }) => (context.daemon !== 'running' && !context.slotBusy ? 'stopped' : context.daemon) }),
  },
}).createMachine({
  id: 'task',
  context: ({ input }) => ({ arrival: input.arrival, slotBusy: input.arrival === 'busy', daemon: 'running', result: 'none' }),
  initial: 'queued',
  states: {
    queued: {
      always: [
        { guard: 'refusedOnArrival', target: 'reporting', actions: 'resultError' },
        { guard: 'slotFree', target: 'running' },
      ],
      on: {
        'blocker.finishes': { guard: 'slotBusy', target: 'running', actions: assign({ slotBusy: false }) },
        'task.cancel': { guard: 'takesCancels', target: 'cancelled' },
        'signal.term': [...forceThenReport],
        'timer.drainDeadline': { guard: 'daemonDraining', target: 'reporting', actions: 'forceWithError' },
      },
    },
    // The run delivers its own answer: the task stays here until the hub has taken it.
    running: {
      on: {
        'model.answers': { guard: 'unanswered', actions: 'resultOk' },
        'model.fails': { guard: 'unanswered', target: 'reporting', actions: 'resultError' },
        'chunk.404': { guard: 'streaming', target: 'cancelled' },
        'result.ok': { guard: 'delivering', target: 'done' },
        'result.404': { guard: 'delivering', target: 'cancelled' },
        // The hub refused the answer: the task reports that instead.
        'result.refused': { guard: 'delivering', target: 'reporting', actions: 'resultError' },
        'task.cancel': { guard: 'takesCancels', target: 'cancelled' },
        'signal.term': [...forceThenReport],
        'timer.drainDeadline': { guard: 'daemonDraining', target: 'reporting', actions: 'forceWithError' },
      },
    },
    reporting: {
      on: {
        'result.ok': [
          { guard: 'resultIsError', target: 'failed' },
          { guard: 'live', target: 'done' },
        ],
        'result.404': { guard: 'live', target: 'cancelled' },
        'result.refused': { guard: 'live', target: 'failed' },
        'task.cancel': { guard: 'cancellableWhileReporting', target: 'cancelled' },
        // A task already reporting keeps its result: the shutdown only moves the supervisor on.
        'signal.term': [
          { guard: 'daemonRunning', actions: 'drain' },
          { guard: 'daemonDraining', actions: 'force' },
        ],
        'timer.drainDeadline': { guard: 'daemonDraining', actions: 'force' },
        // Past the grace the daemon stops without the result it was still posting.
        'timer.forceGrace': { guard: 'daemonForcing', actions: assign({ daemon: 'stopped' }) },
      },
    },
    done: { type: 'final', entry: 'settle' },
    failed: { type: 'final', entry: 'settle' },
    cancelled: { type: 'final', entry: 'settle' },
  },
});

const timing = {
  heartbeatMs: 20,
  // Simulated: the drain deadline and the force grace fire only when a step says so; the stream's idle watchdog never.
  streamIdleMs: 1_000_000_000,
  drainMs: 1_000,
  requestTimeoutMs: 5_000,
  resultDeadlineMs: 5_000,
  upstreamIdleMs: 10_000,
};
/** What the daemon gives the error results of a forced shutdown (src/daemon.ts): min(5 s, resultDeadlineMs). */
const FORCE_GRACE_MS = Math.min(5_000, timing.resultDeadlineMs);
const SUBJECT = 'subject';
const BLOCKER = 'blocker';

const infer = (taskId: string, streaming = false) => ({
  kind: 'infer',
  taskId,
  llmName: 'p',
  streaming,
  request: { messages: [{ role: 'user', content: taskId }] },
});

export function taskScenario(recorder: CoverageRecorder): Scenario<typeof taskModel> {
  const arrivals: Arrival[] = ['free', 'streaming', 'busy', 'noWake', 'unknown'];
  return {
    machine: 'task',
    model: taskModel,
    inputs: arrivals.map((arrival) => ({ label: arrival, input: { arrival } })),
    events: [
      { type: 'blocker.finishes' },
      { type: 'model.answers' },
      { type: 'model.fails' },
      { type: 'chunk.404' },
      { type: 'task.cancel' },
      { type: 'signal.term' },
      { type: 'timer.drainDeadline' },
      { type: 'timer.forceGrace' },
      { type: 'result.ok' },
      { type: 'result.404' },
      { type: 'result.refused' },
    ],
    start: async ({ arrival }) => {
      const stage = await Stage.start({
        providers: ({ modelBaseUrl }) => [{ name: 'p', type: 'openai', baseUrl: modelBaseUrl, model: 'test-model', maxConcurrency: 1 }],
        timing,
        gated: { result: (taskId) => taskId === SUBJECT },
        recorder,
      });
      await stage.hub.waitForStream();
      if (!(await stage.trace.until(() => stage.trace.values.get('provider:p') === 'active', 3_000))) throw new Error('provider p never became active');
      if (arrival === 'busy') {
        stage.send(infer(BLOCKER));
        if (!(await stage.trace.until(() => stage.trace.values.get(BLOCKER) === 'running', 3_000))) throw new Error('the blocker task never ran');
      }
      if (arrival === 'noWake') stage.send({ kind: 'wake', taskId: SUBJECT, llmName: 'p' });
      else if (arrival === 'unknown') stage.send({ ...infer(SUBJECT), llmName: 'nobody' });
      else stage.send(infer(SUBJECT, arrival === 'streaming'));
      return stage;
    },
    actor: () => SUBJECT,
    stimuli: {
      'blocker.finishes': (stage) => stage.answerCall(BLOCKER),
      'model.answers': (stage) => stage.answerCall(SUBJECT),
      'model.fails': (stage) => stage.answerCall(SUBJECT, { failWith: 500 }),
      'chunk.404': (stage) => {
        stage.chunkAnswer = 404;
        stage.answerCall(SUBJECT);
      },
      'task.cancel': (stage) => stage.send({ kind: 'cancel', taskId: SUBJECT }),
      'signal.term': (stage) => stage.daemon.drain(),
      'timer.drainDeadline': (stage) => stage.clock.increment(stage.notes.get('drainingSince')! + timing.drainMs - stage.clock.now()),
      'timer.forceGrace': (stage) => stage.clock.increment(stage.notes.get('forcingSince')! + FORCE_GRACE_MS - stage.clock.now()),
      'result.ok': (stage) => stage.results.answer(200),
      'result.404': (stage) => stage.results.answer(404),
      'result.refused': (stage) => stage.results.answer(400),
    },
    mismatch: (stage, model) => {
      const supervisor = stage.trace.values.get(stage.daemon.actor!.id);
      if (supervisor !== model.context.daemon) return `the daemon's supervisor is ${JSON.stringify(supervisor)}, the model's ${model.context.daemon}`;
      if (model.context.result === 'none') return undefined;
      const body = stage.finalResults.get(SUBJECT);
      const kind = body === undefined ? 'none' : 'error' in body ? 'error' : 'ok';
      return kind === model.context.result ? undefined : `the subject's final result is ${JSON.stringify(body)}, the model expects ${model.context.result}`;
    },
    afterStep: (stage, { before, after }) => {
      // The shutdown's timers start when the supervisor enters draining and forcing (simulated time stands still between).
      if (before.context.daemon !== after.context.daemon) stage.notes.set(`${after.context.daemon}Since`, stage.clock.now());
    },
  };
}
