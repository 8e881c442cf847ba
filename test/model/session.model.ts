// The session machine seen from outside: a test model whose states mirror machines/session.ts and whose events are
// what a hub, a timer, a signal or a model server whose model list changes can do to the registrar, with what each of
// them does to the real stage.
import { and, assign, setup } from 'xstate';
import type { TasksInFlight } from '../../machines/records.ts';
import type { Scenario } from './replay.ts';
import { Stage } from './stage.ts';
import type { CoverageRecorder } from './coverage.ts';

export type SessionStimulus =
  | { type: 'hub.registerOk' }
  | { type: 'hub.registerFails' }
  | { type: 'hub.registerRefused' }
  | { type: 'hub.registerForbidden' }
  | { type: 'hub.registerReset' }
  | { type: 'timer.backoffElapsed' }
  | { type: 'stream.opens' }
  | { type: 'stream.refused' }
  | { type: 'stream.404' }
  | { type: 'stream.reset' }
  | { type: 'stream.cut' }
  | { type: 'stream.silent' }
  | { type: 'stream.keepAlive' }
  | { type: 'heartbeat.404' }
  | { type: 'heartbeat.500' }
  | { type: 'heartbeat.reset' }
  | { type: 'task.arrives' }
  | { type: 'frame.malformed' }
  | { type: 'result.taken' }
  | { type: 'models.change' }
  | { type: 'signal.term' };

/**
 * `hasSession`: the hub gave us a session id at least once (a drain while not connected then heartbeats; without one
 * it has nothing to keep alive). `taskInFlight`: a task whose result the hub has not taken yet (the drain waits for
 * it). `draining`: SIGTERM came while connected with a task in flight: the session stays connected (its stream is the
 * hub's pulse) until that result is taken.
 */
export const sessionModel = setup({
  types: { context: {} as { hasSession: boolean; taskInFlight: boolean; draining: boolean }, events: {} as SessionStimulus },
  guards: {
    hasSession: ({ context }) => context.hasSession,
    taskInFlight: ({ context }) => context.taskInFlight,
    noTaskInFlight: ({ context }) => !context.taskInFlight,
    draining: ({ context }) => context.draining,
    notDraining: ({ context }) => !context.draining,
    drainsWithSession: ({ context }) => !context.draining && context.hasSession,
  },
  actions: {
    /** A step that changes nothing the model can see; the replay checks the real transition instead. */
    stays: () => {},
  },
}).createMachine({
  id: 'session',
  context: { hasSession: false, taskInFlight: false, draining: false },
  initial: 'registering',
  on: {
    'result.taken': [
      // The drain's last result, while the session is not connected: there is no hub session to leave.
      { guard: and(['taskInFlight', 'draining']), target: '.stopped', actions: assign({ taskInFlight: false }) },
      { guard: 'taskInFlight', actions: assign({ taskInFlight: false }) },
    ],
  },
  states: {
    registering: {
      on: {
        'hub.registerOk': { target: 'connected', actions: assign({ hasSession: true }) },
        'hub.registerFails': 'retrying',
        'hub.registerRefused': 'retrying',
        // 403: the id we sent is another user's; with none sent, a refusal like 401.
        'hub.registerForbidden': [
          { guard: 'hasSession', target: 'registering', reenter: true, actions: assign({ hasSession: false }) },
          { target: 'retrying' },
        ],
        'hub.registerReset': 'retrying',
        // The register under way named the old models: it starts again (a draining daemon publishes nothing new).
        'models.change': { guard: 'notDraining', target: 'registering', reenter: true },
        'signal.term': [
          { guard: 'drainsWithSession', target: '#session.draining.heartbeating' },
          { guard: 'notDraining', target: '#session.draining.idle' },
        ],
      },
    },
    retrying: {
      on: {
        'timer.backoffElapsed': 'registering',
        'signal.term': [
          { guard: 'drainsWithSession', target: '#session.draining.heartbeating' },
          { guard: 'notDraining', target: '#session.draining.idle' },
        ],
        'models.change': { guard: 'notDraining', actions: 'stays' },
      },
    },
    connected: {
      on: {
        'heartbeat.404': 'registering',
        // Rows follow the server's models: a register again, with the same session id.
        'models.change': { guard: 'notDraining', target: 'registering' },
        'heartbeat.500': { actions: 'stays' },
        'heartbeat.reset': { actions: 'stays' },
        // Draining keeps the stream open while the task runs; with none, the session takes leave at once.
        'signal.term': [
          { guard: 'noTaskInFlight', target: 'leaving' },
          { guard: 'notDraining', actions: assign({ draining: true }) },
        ],
        'result.taken': { guard: and(['taskInFlight', 'draining']), target: 'leaving', actions: assign({ taskInFlight: false }) },
      },
      initial: 'streaming',
      states: {
        streaming: {
          initial: 'connecting',
          states: {
            connecting: {
              on: {
                'stream.opens': 'open',
                'stream.refused': '#session.connected.backoff',
                'stream.404': '#session.registering',
                'stream.reset': '#session.connected.backoff',
                'stream.silent': '#session.connected.backoff',
              },
            },
            open: {
              on: {
                'stream.cut': '#session.connected.backoff',
                'stream.silent': '#session.connected.backoff',
                'stream.keepAlive': { target: 'open', reenter: true },
                'task.arrives': { guard: 'noTaskInFlight', actions: assign({ taskInFlight: true }) },
                'frame.malformed': { actions: 'stays' },
              },
            },
          },
        },
        backoff: {
          on: { 'timer.backoffElapsed': 'streaming' },
        },
      },
    },
    draining: {
      // Once no task is in flight the supervisor has the session take leave of the hub (which had given it an id),
      // then stop. The script hub answers the leave 404, as a base hub does.
      always: [
        { guard: and(['noTaskInFlight', 'hasSession']), target: 'leaving' },
        { guard: 'noTaskInFlight', target: 'stopped' },
      ],
      initial: 'idle',
      states: {
        heartbeating: {},
        idle: {},
      },
    },
    leaving: { always: 'stopped' },
    stopped: { type: 'final' },
  },
});

const timing = {
  heartbeatMs: 20,
  backoffBaseMs: 100,
  backoffCapMs: 1_000,
  // Simulated: the watchdogs fire only when a step says so. Real: the task stream reports activity at most every
  // streamIdleMs / 10 of real time.
  streamIdleMs: 50,
  drainMs: 1_000,
  requestTimeoutMs: 5_000,
  resultDeadlineMs: 5_000,
  // Simulated: the model-list sync runs when `models.change` moves the clock by this much.
  modelSyncMs: 1,
};
const ACTIVITY_THROTTLE_MS = timing.streamIdleMs / 10;

const frame = (taskId: string) => ({
  kind: 'infer',
  taskId,
  llmName: 'demo',
  streaming: false,
  request: { messages: [{ role: 'user', content: taskId }] },
});

/** The id the script hub gives a session. */
const SESSION_ID = 'script-session';

/** Stimuli that leave the state as it was: the real transition each must take shows that it arrived. */
const SELF_LOOPS: Partial<Record<SessionStimulus['type'], string>> = {
  'heartbeat.500': 'session.connected heartbeat.failed#0',
  'heartbeat.reset': 'session.connected heartbeat.failed#0',
  'stream.keepAlive': 'session.connected.streaming.open stream.activity#0',
  'frame.malformed': 'supervisor stream.badFrame#0',
};

/** The two model lists the server alternates between, so every `models.change` is a change. */
const MODEL_LISTS = [['m1'], ['m1', 'm2']];

/** The real session's context, as the last snapshot showed it. */
const sessionContext = (stage: Stage) => stage.trace.contexts.get('session') ?? {};

export function sessionScenario(recorder: CoverageRecorder): Scenario<typeof sessionModel> {
  return {
    machine: 'session',
    model: sessionModel,
    inputs: [{ label: 'demo provider', input: undefined }],
    events: [
      { type: 'hub.registerOk' },
      { type: 'hub.registerFails' },
      { type: 'hub.registerRefused' },
      { type: 'hub.registerForbidden' },
      { type: 'hub.registerReset' },
      { type: 'timer.backoffElapsed' },
      { type: 'stream.opens' },
      { type: 'stream.refused' },
      { type: 'stream.404' },
      { type: 'stream.reset' },
      { type: 'stream.cut' },
      { type: 'stream.silent' },
      { type: 'stream.keepAlive' },
      { type: 'heartbeat.404' },
      { type: 'heartbeat.500' },
      { type: 'heartbeat.reset' },
      { type: 'task.arrives' },
      { type: 'frame.malformed' },
      { type: 'result.taken' },
      { type: 'models.change' },
      { type: 'signal.term' },
    ],
    start: () =>
      Stage.start({
        providers: ({ modelBaseUrl }) => [
          { name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 },
          { name: 'every', type: 'openai', baseUrl: modelBaseUrl, model: '*' },
        ],
        models: MODEL_LISTS[0],
        timing,
        gated: { register: true, stream: true, result: () => true },
        recorder,
      }),
    actor: () => 'session',
    stimuli: {
      'hub.registerOk': (stage) => stage.register.answer(201),
      'hub.registerFails': (stage) => stage.register.answer(500),
      'hub.registerRefused': (stage) => stage.register.answer(401),
      'hub.registerForbidden': (stage) => stage.register.answer(403),
      'hub.registerReset': (stage) => stage.register.answer('reset'),
      'timer.backoffElapsed': (stage) => stage.clock.increment(sessionContext(stage).retryDelayMs as number),
      'stream.opens': (stage) => stage.stream.answer(200),
      'stream.refused': (stage) => stage.stream.answer(500),
      'stream.404': (stage) => stage.stream.answer(404),
      'stream.reset': (stage) => stage.stream.answer('reset'),
      'stream.cut': (stage) => stage.hub.cut(),
      'stream.silent': (stage) => stage.clock.increment(timing.streamIdleMs),
      'stream.keepAlive': async (stage) => {
        // The stream reports activity at most once per throttle period: let the last report age past it.
        await new Promise((resolve) => setTimeout(resolve, ACTIVITY_THROTTLE_MS + 1));
        stage.hub.write(': keep-alive\n\n');
      },
      'heartbeat.404': (stage) => void stage.heartbeats.push(404),
      'heartbeat.500': (stage) => void stage.heartbeats.push(500),
      'heartbeat.reset': (stage) => void stage.heartbeats.push('reset'),
      'task.arrives': (stage) => {
        const n = (stage.notes.get('tasks') ?? 0) + 1;
        stage.notes.set('tasks', n);
        stage.send(frame(`task-${n}`));
      },
      'frame.malformed': (stage) => stage.send('{"kind":"infer","llmName":"demo",'),
      'result.taken': (stage) => stage.results.answer(200),
      'models.change': (stage) => {
        const n = (stage.notes.get('modelLists') ?? 0) + 1;
        stage.notes.set('modelLists', n);
        stage.model.script.models = MODEL_LISTS[n % 2];
        stage.clock.increment(timing.modelSyncMs);
      },
      'signal.term': (stage) => stage.daemon.drain(),
    },
    mustTake: ({ event, before }) => {
      if (event.type === 'signal.term' && before.matches('connected') && before.context.taskInFlight) return 'session.connected session.drain#0';
      // The frame goes from the stream to the supervisor, which routes it, or answers it as stopping while draining.
      if (event.type === 'task.arrives') return before.context.draining ? 'supervisor.draining stream.task#0' : 'supervisor.running stream.task#0';
      if (event.type === 'models.change') return before.matches('retrying') ? 'session session.publish#0' : before.matches('registering') ? 'session.registering session.publish#0' : 'session.connected session.publish#0';
      return SELF_LOOPS[event.type];
    },
    mismatch: (stage, model) => {
      const inFlight = (stage.trace.contexts.get(stage.daemon.actor!.id)?.inFlight as TasksInFlight | undefined)?.size ?? 0;
      const expected = model.context.taskInFlight ? 1 : 0;
      if (inFlight !== expected) return `the daemon has ${inFlight} task(s) in flight, the model ${expected}`;
      // Sticky session (SPEC §1): once the hub gave an id, every register sends it back.
      const latest = stage.hub.registers.at(-1);
      if (model.context.hasSession && model.matches('registering') && latest?.providerSessionId !== SESSION_ID) {
        return `the latest register sent providerSessionId ${JSON.stringify(latest?.providerSessionId)}, not the session's ${SESSION_ID}`;
      }
      // A 403 for our id: the next register goes without it.
      if (!model.context.hasSession && model.matches('registering') && latest?.providerSessionId !== undefined) {
        return `after a 403 the register still sent providerSessionId ${JSON.stringify(latest.providerSessionId)}`;
      }
      return undefined;
    },
    afterStep: (stage, { after }) => {
      // A request the session no longer waits for (its actor stopped) must not take the next answer meant for a new one.
      if (!after.matches('registering')) stage.register.discard('reset');
      if (!after.matches({ connected: { streaming: 'connecting' } })) stage.stream.discard('reset');
    },
  };
}
