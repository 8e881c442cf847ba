// The provider machine seen from outside: a test model whose states mirror machines/provider.ts and whose events are
// what the model server, the wake endpoint, the hub (task and cancel frames), a timer or a signal can do.
// The provider runs one task at a time (maxConcurrency 1; two for one input) against a model server that holds every
// chat call until the path lets it answer, so the model can count the tasks running and queued and check them against
// the daemon. With a wake recipe, a task that finds the model server gone before it sent anything goes back to the
// queue and the provider wakes the server; with two slots, the second such task comes back while the provider is
// already probing (the root's `task.upstreamLost`).
import { isDeepStrictEqual } from 'node:util';
import { and, assign, setup } from 'xstate';
import type { QueuedTask } from '../../machines/provider.ts';
import type { CoverageRecorder } from './coverage.ts';
import type { Scenario } from './replay.ts';
import { Stage } from './stage.ts';

export type ProviderStimulus =
  | { type: 'task.arrives' }
  | { type: 'task.cancel' }
  | { type: 'model.answers' }
  | { type: 'model.refusesKey' }
  | { type: 'model.down' }
  | { type: 'model.up' }
  | { type: 'wake.ok' }
  | { type: 'wake.fails' }
  | { type: 'timer.wakePoll' }
  | { type: 'timer.wakeMaxWait' }
  | { type: 'timer.reprobe' }
  | { type: 'signal.force' };

export interface ProviderModelInput {
  hasWake: boolean;
  /** Whether the model server is up when the daemon starts. */
  up: boolean;
  /** The provider's maxConcurrency. */
  slots: number;
  /**
   * How many tasks the path may leave waiting for a slot (the daemon's limit is far above): one shows the queue at
   * work; the two-slot input keeps none, or its model grows past what getSimplePaths can walk.
   */
  maxQueued: number;
}

interface ProviderModelContext extends ProviderModelInput {
  running: number;
  queued: number;
  /**
   * Of those, the tasks already sent back to the queue once (a second lost server is their error). They lead the
   * queue, and start before any other: they lead `running` too, where `model.answers` answers the first.
   */
  runningAgain: number;
  queuedAgain: number;
  /** Two signals: the daemon aborted every task and stopped; nothing more happens. */
  over: boolean;
}

/** More tasks waiting add nothing the model does not already cover. */

export const providerModel = setup({
  types: { input: {} as ProviderModelInput, context: {} as ProviderModelContext, events: {} as ProviderStimulus },
  guards: {
    live: ({ context }) => !context.over,
    up: ({ context }) => context.up,
    down: ({ context }) => !context.over && !context.up,
    hasWake: ({ context }) => context.hasWake,
    hasQueued: ({ context }) => context.queued > 0,
    canQueue: ({ context }) => !context.over && context.queued < context.maxQueued,
    cancellable: ({ context }) => !context.over && context.queued > 0,
    slotFreeAndUp: ({ context }) => !context.over && context.running < context.slots && context.up,
    slotFreeAndDown: ({ context }) => !context.over && context.running < context.slots && !context.up,
    slotTaken: ({ context }) => !context.over && context.running > 0,
    answerable: ({ context }) => !context.over && context.running > 0 && context.up,
    /**
     * One task runs (a second one would end on its own while the provider is unavailable), on a provider without a wake
     * recipe: with one, the states it adds (unavailable with tasks queued, up or down) took getSimplePaths minutes.
     */
    refusable: ({ context }) => !context.over && context.running === 1 && context.up && !context.hasWake,
    /** With nothing in flight the first signal already stops the daemon; the second one aborts what is left. */
    tasksInFlight: ({ context }) => !context.over && context.running + context.queued > 0,
  },
  actions: {
    queueOne: assign({ queued: ({ context }) => context.queued + 1 }),
    /** A task ran, found the server gone before it sent anything, and is back in the queue (once). */
    queueOneAgain: assign({ queued: ({ context }) => context.queued + 1, queuedAgain: ({ context }) => context.queuedAgain + 1 }),
    /** The newest queued task is cancelled: one sent back only when every queued task was. */
    cancelOne: assign({ queued: ({ context }) => context.queued - 1, queuedAgain: ({ context }) => Math.min(context.queuedAgain, context.queued - 1) }),
    failQueued: assign({ queued: 0, queuedAgain: 0 }),
    startOne: assign({ running: ({ context }) => context.running + 1 }),
    /** Slots are free: the oldest queued tasks start, those sent back first. */
    startQueued: assign(({ context }) => {
      const starting = Math.min(context.slots - context.running, context.queued);
      const again = Math.min(starting, context.queuedAgain);
      return starting > 0
        ? { running: context.running + starting, queued: context.queued - starting, runningAgain: context.runningAgain + again, queuedAgain: context.queuedAgain - again }
        : {};
    }),
    finishOne: assign({ running: ({ context }) => context.running - 1, runningAgain: ({ context }) => Math.max(0, context.runningAgain - 1) }),
    finishRunning: assign({ running: 0, runningAgain: 0 }),
    /**
     * The running tasks lost the model server before they sent anything: those on their first run go back to the
     * queue, ahead of the waiting ones; those on their second fail.
     */
    requeueRunning: assign(({ context }) => {
      const back = context.running - context.runningAgain;
      return { running: 0, runningAgain: 0, queued: context.queued + back, queuedAgain: context.queuedAgain + back };
    }),
    goDown: assign({ up: false }),
    goUp: assign({ up: true }),
    abortAll: assign({ over: true, running: 0, queued: 0, runningAgain: 0, queuedAgain: 0 }),
  },
}).createMachine({
  id: 'provider',
  context: ({ input }) => ({ ...input, running: 0, queued: 0, runningAgain: 0, queuedAgain: 0, over: false }),
  initial: 'probing',
  on: {
    'model.down': { guard: 'live', actions: 'goDown' },
    'model.up': { guard: 'down', actions: 'goUp' },
    'task.cancel': { guard: 'cancellable', actions: 'cancelOne' },
    'signal.force': { guard: 'tasksInFlight', actions: 'abortAll' },
  },
  states: {
    // The probe's answer depends only on whether the model server is up.
    probing: {
      always: [
        { guard: 'up', target: 'active' },
        { guard: 'hasWake', target: 'hibernating' },
        { target: 'unavailable', actions: 'failQueued' },
      ],
    },
    active: {
      entry: 'startQueued',
      on: {
        'task.arrives': [
          { guard: 'slotFreeAndUp', actions: 'startOne' },
          // The server stopped on its own and nobody noticed: the task fails at once (connection refused) before it
          // sent anything. With a wake recipe it goes back to the queue, and the provider probes, then wakes the server;
          // without one, its caller gets the error and the provider probes again.
          { guard: and(['slotFreeAndDown', 'hasWake']), target: 'probing', actions: 'queueOneAgain' },
          { guard: 'slotFreeAndDown', target: 'probing' },
          { guard: 'canQueue', actions: 'queueOne' },
        ],
        'model.answers': { guard: 'answerable', actions: ['finishOne', 'startQueued'] },
        // The upstream answers the running call 401: the provider is unavailable (the apiKey) until a reprobe.
        'model.refusesKey': { guard: 'refusable', target: 'unavailable', actions: 'finishOne' },
        // The held calls die with the server (unreachable, nothing sent yet): with a wake recipe the running tasks go
        // back to the queue, else they fail; either way the provider probes again.
        'model.down': [
          { guard: and(['slotTaken', 'hasWake']), target: 'probing', actions: ['goDown', 'requeueRunning'] },
          { guard: 'slotTaken', target: 'probing', actions: ['goDown', 'finishRunning'] },
          { guard: 'live', actions: 'goDown' },
        ],
      },
    },
    hibernating: {
      always: { guard: 'hasQueued', target: 'waking' },
      on: { 'task.arrives': { guard: 'canQueue', target: 'waking', actions: 'queueOne' } },
    },
    waking: {
      on: {
        'task.arrives': { guard: 'canQueue', actions: 'queueOne' },
        'timer.wakeMaxWait': { guard: 'live', target: 'hibernating', actions: 'failQueued' },
      },
      initial: 'starting',
      states: {
        starting: {
          on: {
            'wake.ok': { guard: 'live', target: 'polling' },
            'wake.fails': { guard: 'live', target: '#provider.hibernating', actions: 'failQueued' },
          },
        },
        polling: { always: [{ guard: 'up', target: '#provider.active' }, { target: 'waiting' }] },
        waiting: { on: { 'timer.wakePoll': { guard: 'live', target: 'polling' } } },
      },
    },
    unavailable: {
      on: {
        'timer.reprobe': { guard: 'live', target: 'probing' },
        'task.arrives': { guard: 'canQueue', target: 'probing', actions: 'queueOne' },
      },
    },
  },
});

const timing = {
  heartbeatMs: 20,
  // Simulated: they fire only when a step says so. The stream's idle watchdog must never fire here.
  wakePollStartMs: 100,
  wakePollMs: 400,
  reprobeMs: 1_000,
  reprobeCapMs: 4_000,
  streamIdleMs: 1_000_000_000,
  drainMs: 1_000,
  requestTimeoutMs: 5_000,
  resultDeadlineMs: 5_000,
  upstreamIdleMs: 10_000,
};
const WAKE_MAX_WAIT_MS = 60_000;
const PROVIDER = 'provider:p';

const providerContext = (stage: Stage) => (stage.trace.contexts.get(PROVIDER) ?? {}) as { running?: string[]; queue?: QueuedTask[]; wakePolls?: number; reprobes?: number };

export function providerScenario(recorder: CoverageRecorder): Scenario<typeof providerModel> {
  return {
    machine: 'provider',
    model: providerModel,
    inputs: [
      { label: 'no wake, model up', input: { hasWake: false, up: true, slots: 1, maxQueued: 1 } },
      { label: 'no wake, model down', input: { hasWake: false, up: false, slots: 1, maxQueued: 1 } },
      { label: 'wake, model up', input: { hasWake: true, up: true, slots: 1, maxQueued: 1 } },
      { label: 'wake, model down', input: { hasWake: true, up: false, slots: 1, maxQueued: 1 } },
      { label: 'wake, model up, two slots', input: { hasWake: true, up: true, slots: 2, maxQueued: 0 } },
    ],
    events: [
      { type: 'task.arrives' },
      { type: 'task.cancel' },
      { type: 'model.answers' },
      { type: 'model.refusesKey' },
      { type: 'model.down' },
      { type: 'model.up' },
      { type: 'wake.ok' },
      { type: 'wake.fails' },
      { type: 'timer.wakePoll' },
      { type: 'timer.wakeMaxWait' },
      { type: 'timer.reprobe' },
      { type: 'signal.force' },
    ],
    start: async ({ hasWake, up, slots }) => {
      const stage = await Stage.start({
        providers: ({ modelBaseUrl, wakeUrl }) => [
          {
            name: 'p',
            type: 'openai',
            baseUrl: modelBaseUrl,
            model: 'test-model',
            maxConcurrency: slots,
            ...(hasWake ? { wake: { type: 'http', url: wakeUrl, maxWaitSeconds: WAKE_MAX_WAIT_MS / 1000 } } : {}),
          },
        ],
        timing,
        gated: {},
        modelUp: up,
        recorder,
      });
      await stage.hub.waitForStream();
      return stage;
    },
    actor: () => PROVIDER,
    stimuli: {
      'task.arrives': (stage) => {
        const n = (stage.notes.get('tasks') ?? 0) + 1;
        stage.notes.set('tasks', n);
        const taskId = `t${n}`;
        stage.send({ kind: 'infer', taskId, llmName: 'p', streaming: false, request: { messages: [{ role: 'user', content: taskId }] } });
      },
      'task.cancel': (stage) => stage.send({ kind: 'cancel', taskId: providerContext(stage).queue!.at(-1)!.id }),
      'model.answers': (stage) => stage.answerCall(providerContext(stage).running![0]),
      'model.refusesKey': (stage) => stage.answerCall(providerContext(stage).running![0], { failWith: 401 }),
      'model.down': (stage) => stage.modelDown(),
      'model.up': (stage) => stage.modelUp(),
      'wake.ok': (stage) => stage.wake.answer(200),
      'wake.fails': (stage) => stage.wake.answer(500),
      // The gaps of the real schedule: 100, 100, 200, 400 … ms; reprobes 1, 2, 4, 4 … s.
      'timer.wakePoll': (stage) => {
        const polls = (providerContext(stage).wakePolls as number | undefined) ?? 0;
        stage.clock.increment(Math.min(timing.wakePollMs, timing.wakePollStartMs * 2 ** Math.max(0, polls - 1)));
      },
      'timer.wakeMaxWait': (stage) => stage.clock.increment(stage.notes.get('wakeStartedAt')! + WAKE_MAX_WAIT_MS - stage.clock.now()),
      'timer.reprobe': (stage) => {
        const reprobes = (providerContext(stage).reprobes as number | undefined) ?? 0;
        stage.clock.increment(Math.min(timing.reprobeCapMs, timing.reprobeMs * 2 ** reprobes));
      },
      'signal.force': (stage) => {
        stage.daemon.drain();
        stage.daemon.drain();
      },
    },
    mustTake: ({ event, before, after }) => {
      if (event.type === 'task.cancel') return 'provider task.cancel#0';
      if (event.type === 'signal.force') return 'provider task.abortAll#0';
      if (event.type === 'task.arrives' && before.matches('waking')) return 'provider task.received#0';
      if (event.type === 'model.answers' && after.matches('active')) return 'provider.active task.settled#2';
      // Two tasks lose the server at once: the first sends the provider probing, the second comes back to it there.
      if (event.type === 'model.down' && before.matches('active') && before.context.hasWake && before.context.running - before.context.runningAgain === 2) {
        return 'provider task.upstreamLost#0';
      }
      return undefined;
    },
    mismatch: (stage, model) => {
      const { running = [], queue = [] } = providerContext(stage);
      // A task actor's context says whether it was sent back to the queue already.
      const again = (ids: string[]) => ids.filter((id) => stage.trace.contexts.get(id)?.requeued === true).length;
      const daemon = [running.length, queue.length, again(running), again(queue.map(({ id }) => id))];
      const { running: r, queued: q, runningAgain: ra, queuedAgain: qa } = model.context;
      return isDeepStrictEqual(daemon, [r, q, ra, qa])
        ? undefined
        : `the daemon's provider runs ${daemon[0]} and queues ${daemon[1]} task(s), ${daemon[2]} and ${daemon[3]} of them sent back once; the model ${r} and ${q}, ${ra} and ${qa}`;
    },
    afterStep: (stage, { before, after }) => {
      if (after.matches('waking') && !before.matches('waking')) stage.notes.set('wakeStartedAt', stage.clock.now());
      if (!after.matches({ waking: 'starting' })) stage.wake.discard();
    },
  };
}
