// The provider machine seen from outside: a test model whose states mirror machines/provider.ts and whose events are
// what the model server, the wake endpoint, the hub (task and cancel frames), a timer or a signal can do.
// The provider runs one task at a time (maxConcurrency 1) against a model server that holds every chat call until
// the path lets it answer, so the model can count the tasks running and queued and check them against the daemon.
import { assign, setup } from 'xstate';
import type { CoverageRecorder } from './coverage.ts';
import type { Scenario } from './replay.ts';
import { Stage } from './stage.ts';

export type ProviderStimulus =
  | { type: 'task.arrives' }
  | { type: 'task.cancel' }
  | { type: 'model.answers' }
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
}

interface ProviderModelContext extends ProviderModelInput {
  running: number;
  queued: number;
  /** Two signals: the daemon aborted every task and stopped; nothing more happens. */
  over: boolean;
}

/** More tasks waiting add nothing the model does not already cover. */
const MAX_QUEUED = 1;

export const providerModel = setup({
  types: { input: {} as ProviderModelInput, context: {} as ProviderModelContext, events: {} as ProviderStimulus },
  guards: {
    live: ({ context }) => !context.over,
    up: ({ context }) => context.up,
    down: ({ context }) => !context.over && !context.up,
    hasWake: ({ context }) => context.hasWake,
    hasQueued: ({ context }) => context.queued > 0,
    canQueue: ({ context }) => !context.over && context.queued < MAX_QUEUED,
    cancellable: ({ context }) => !context.over && context.queued > 0,
    slotFreeAndUp: ({ context }) => !context.over && context.running === 0 && context.up,
    slotFreeAndDown: ({ context }) => !context.over && context.running === 0 && !context.up,
    slotTaken: ({ context }) => !context.over && context.running > 0,
    answerable: ({ context }) => !context.over && context.running > 0 && context.up,
    /** With nothing in flight the first signal already stops the daemon; the second one aborts what is left. */
    tasksInFlight: ({ context }) => !context.over && context.running + context.queued > 0,
  },
  actions: {
    queueOne: assign({ queued: ({ context }) => context.queued + 1 }),
    cancelOne: assign({ queued: ({ context }) => context.queued - 1 }),
    failQueued: assign({ queued: 0 }),
    /** A slot is free: the oldest queued task starts. */
    startQueued: assign(({ context }) =>
      context.running === 0 && context.queued > 0 ? { running: 1, queued: context.queued - 1 } : {},
    ),
    finishRunning: assign({ running: 0 }),
    goDown: assign({ up: false }),
    goUp: assign({ up: true }),
    abortAll: assign({ over: true, running: 0, queued: 0 }),
  },
}).createMachine({
  id: 'provider',
  context: ({ input }) => ({ ...input, running: 0, queued: 0, over: false }),
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
          { guard: 'slotFreeAndUp', actions: [assign({ running: 1 })] },
          // It fails at once (connection refused): the provider probes again.
          { guard: 'slotFreeAndDown', target: 'probing' },
          { guard: 'canQueue', actions: 'queueOne' },
        ],
        'model.answers': { guard: 'answerable', actions: ['finishRunning', 'startQueued'] },
        // The held call dies with the server: the running task fails as unreachable, the provider probes again.
        'model.down': [{ guard: 'slotTaken', target: 'probing', actions: ['goDown', 'finishRunning'] }, { guard: 'live', actions: 'goDown' }],
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
  wakePollMs: 100,
  reprobeMs: 1_000,
  streamIdleMs: 1_000_000_000,
  drainMs: 1_000,
  requestTimeoutMs: 5_000,
  resultDeadlineMs: 5_000,
  upstreamIdleMs: 10_000,
};
const WAKE_MAX_WAIT_MS = 60_000;
const PROVIDER = 'provider:p';

const providerContext = (stage: Stage) => (stage.trace.contexts.get(PROVIDER) ?? {}) as { running?: string[]; queue?: string[] };

export function providerScenario(recorder: CoverageRecorder): Scenario<typeof providerModel> {
  return {
    machine: 'provider',
    model: providerModel,
    inputs: [
      { label: 'no wake, model up', input: { hasWake: false, up: true } },
      { label: 'no wake, model down', input: { hasWake: false, up: false } },
      { label: 'wake, model up', input: { hasWake: true, up: true } },
      { label: 'wake, model down', input: { hasWake: true, up: false } },
    ],
    events: [
      { type: 'task.arrives' },
      { type: 'task.cancel' },
      { type: 'model.answers' },
      { type: 'model.down' },
      { type: 'model.up' },
      { type: 'wake.ok' },
      { type: 'wake.fails' },
      { type: 'timer.wakePoll' },
      { type: 'timer.wakeMaxWait' },
      { type: 'timer.reprobe' },
      { type: 'signal.force' },
    ],
    start: async ({ hasWake, up }) => {
      const stage = await Stage.start({
        providers: ({ modelBaseUrl, wakeUrl }) => [
          {
            name: 'p',
            type: 'openai',
            baseUrl: modelBaseUrl,
            model: 'test-model',
            maxConcurrency: 1,
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
      'task.cancel': (stage) => stage.send({ kind: 'cancel', taskId: providerContext(stage).queue!.at(-1) }),
      'model.answers': (stage) => stage.answerCall(providerContext(stage).running![0]),
      'model.down': (stage) => stage.modelDown(),
      'model.up': (stage) => stage.modelUp(),
      'wake.ok': (stage) => stage.wake.gate.answer(200),
      'wake.fails': (stage) => stage.wake.gate.answer(500),
      'timer.wakePoll': (stage) => stage.clock.increment(timing.wakePollMs),
      'timer.wakeMaxWait': (stage) => stage.clock.increment(stage.notes.get('wakeStartedAt')! + WAKE_MAX_WAIT_MS - stage.clock.now()),
      'timer.reprobe': (stage) => stage.clock.increment(timing.reprobeMs),
      'signal.force': (stage) => {
        stage.daemon.drain();
        stage.daemon.drain();
      },
    },
    mustTake: ({ event, before, after }) => {
      if (event.type === 'task.cancel') return 'provider task.cancel#0';
      if (event.type === 'signal.force') return 'provider task.abortAll#0';
      if (event.type === 'task.arrives' && before.matches('waking')) return 'provider task.received#0';
      if (event.type === 'model.answers' && after.matches('active')) return 'provider.active xstate.done.actor.*#1';
      return undefined;
    },
    mismatch: (stage, model) => {
      const { running = [], queue = [] } = providerContext(stage);
      const { running: modelRunning, queued: modelQueued } = model.context;
      return running.length === modelRunning && queue.length === modelQueued
        ? undefined
        : `the daemon's provider runs ${running.length} and queues ${queue.length} task(s), the model ${modelRunning} and ${modelQueued}`;
    },
    afterStep: (stage, { before, after }) => {
      if (after.matches('waking') && !before.matches('waking')) stage.notes.set('wakeStartedAt', stage.clock.now());
      if (!after.matches({ waking: 'starting' })) stage.wake.gate.discard(0);
    },
  };
}
