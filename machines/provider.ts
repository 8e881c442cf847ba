// One published provider: whether its upstream answers, how it is woken, and which of its tasks may run.
// probing → active | hibernating | unavailable; hibernating → waking → active | hibernating (SPEC.md, "Wake").
// An unavailable provider is probed again on a doubling schedule, and at once when a task arrives for it; a wake polls
// readiness soon after its recipe, then less and less often; an upstream that refuses our apiKey makes it unavailable.
// A task that finds the upstream gone before it sent anything comes back to the queue once, and the provider probes:
// a stopped upstream with a wake recipe is woken, and the task runs on it (an infer for a hibernating provider).
// Its owner may pause it (`provider.pause`, in any state): new tasks are refused, running ones finish, the hub is told
// `paused`; `provider.resume` reports the state it is in again.
import { assertEvent, assign, enqueueActions, sendParent, setup, stopChild, type ActorRefFrom, type AnyActorRef } from 'xstate';
import type { ProviderStatus, WorkFrame } from '../src/protocol/index.ts';
import { promisePlaceholder } from './placeholder.ts';
import { TaskSlots } from './records.ts';
import { taskMachine, type RunnableTaskInput, type TaskContext, type TaskEnded, type TaskSettled, type TaskUpstreamLost } from './task.ts';

export interface ProviderInput {
  /** The wire name: what frames and the hub call this provider. */
  name: string;
  /** Where the upstream is, for error messages: `openai at http://127.0.0.1:8000/v1`. */
  upstream: string;
  hasWake: boolean;
  maxConcurrency: number;
  maxQueue: number;
  /** The first readiness poll of a wake, then doubling up to wakePollMs. */
  wakePollStartMs: number;
  wakePollMs: number;
  wakeMaxWaitMs: number;
  /** The first reprobe of an unavailable provider, then doubling up to reprobeCapMs. */
  reprobeMs: number;
  reprobeCapMs: number;
}

export interface ProbeInput {
  name: string;
}
export interface WakeInput {
  name: string;
}
/** What the wake recipe actor answers: when it started the recipe (the actor reads the clock, not the machine). */
export interface WakeStarted {
  startedAt: number;
}
/** What a readiness poll of a wake answers: whether the upstream answered, and when it did. */
export interface Readiness {
  ready: boolean;
  at: number;
}

export type ProviderEvent =
  /** `receivedAt` and `sessionId` (the session it was sent to): stamped by the task-stream actor. */
  | { type: 'task.received'; frame: WorkFrame; receivedAt: number; sessionId: string }
  | { type: 'task.cancel'; taskId: string }
  /** Its owner said "not now": refuse new tasks until `provider.resume`; `until` (ms epoch) is for display. */
  | { type: 'provider.pause'; until?: number }
  | { type: 'provider.resume' }
  /** Shutdown deadline: answer every task still here with this error. */
  | { type: 'task.abortAll'; error: string }
  /** From a task of ours: the upstream was gone before it sent anything; it is queued again. */
  | TaskUpstreamLost
  /** From a task of ours: it has ended. */
  | TaskSettled;

/** Where a provider stands: its wire status, or a passing phase on the way to one. */
export type ProviderPhase = ProviderStatus | 'probing' | 'waking';

/** What the provider tells the supervisor. */
export type ProviderNotice =
  | { type: 'provider.status'; name: string; status: ProviderPhase; error?: string }
  | { type: 'provider.wakePolled'; name: string }
  | TaskSettled;

/** A task waiting for a slot, with its place in the arrival order (so a task sent back keeps its turn). */
export interface QueuedTask {
  id: string;
  seq: number;
}

export interface ProviderContext extends ProviderInput {
  /** Tasks waiting for a slot, in arrival order (a task sent back to the queue keeps its turn). */
  queue: QueuedTask[];
  running: string[];
  /** The actor id of each live task (its child), from a few reused names rather than the hub's task ids. */
  slots: TaskSlots;
  /** Tasks taken so far: the next one's place in the arrival order. */
  accepted: number;
  lastError?: string;
  /** Reprobes since the provider was last active. */
  reprobes: number;
  /** Readiness polls of the wake under way that found it not ready yet. */
  wakePolls: number;
  wakeStartedAt?: number;
  lastWakeMs?: number;
  paused: boolean;
  pausedUntil?: number;
  /** The phase last reported, to report it again on resume. */
  phase: ProviderPhase;
}

const unreachable = (context: ProviderContext) => `provider '${context.name}' is not reachable (${context.upstream})`;
/** What its callers read: the model's name, never where its server listens (the log and status keep that). */
const unreachableForCallers = (context: ProviderContext) => `provider '${context.name}' is not reachable: its model server does not answer`;
/** A wake error's words for callers: `callerReason` when the actor gave one (no command path, no stderr). */
const wakeFailedForCallers = (name: string, error: unknown) => {
  const reason = (error as { callerReason?: unknown } | undefined)?.callerReason;
  return `wake of provider '${name}' failed${typeof reason === 'string' ? `: ${reason}` : ''}`;
};
/** Says what to fix: the config's apiKey, not the server. */
const REFUSED_KEY = 'the model server refused the apiKey: check apiKey in the config';

/**
 * Its live tasks are its children (XState keeps that record), each under the actor id `slots` gave it: a record of
 * our own beside it cost a copy of every live task's entry per task started and ended. Invoked actors (the probe) are
 * children too.
 */
function taskChild(self: AnyActorRef, context: ProviderContext, taskId: string): AnyActorRef | undefined {
  const id = context.slots.idOf(taskId);
  if (id === undefined) return undefined;
  const child = (self.getSnapshot().children as Record<string, AnyActorRef | undefined>)[id];
  return child?.src === 'task' ? child : undefined;
}

/** Why a task cannot be taken here, if it cannot: paused, a wake without a recipe, a full queue. */
function refusalOf(context: ProviderContext, frame: WorkFrame): string | undefined {
  if (context.paused) return `provider '${context.name}' is paused by its owner`;
  if (frame.kind === 'wake' && !context.hasWake) return `provider '${context.name}' has no wake recipe`;
  if (context.queue.length >= context.maxQueue) return `provider '${context.name}' has ${context.maxQueue} tasks waiting; try again later`;
  return undefined;
}

/** The actions of `accept`: one spawn and one assign per task. */
function enqueueAccept(
  context: ProviderContext,
  event: Extract<ProviderEvent, { type: 'task.received' }>,
  mayRun: boolean,
  enqueue: { spawnChild: (src: 'task', options: { id: string; input: RunnableTaskInput }) => void; assign: (values: Partial<ProviderContext>) => void },
): void {
  const { frame, receivedAt, sessionId } = event;
  const error = refusalOf(context, frame);
  const errorStatus = context.paused ? 503 : undefined;
  const start = mayRun && error === undefined && context.queue.length === 0 && context.running.length < context.maxConcurrency;
  const seq = context.accepted;
  enqueue.spawnChild('task', { id: context.slots.take(frame.taskId), input: { frame, receivedAt, sessionId, error, errorStatus, mayWake: context.hasWake, seq, start } });
  if (start) enqueue.assign({ running: [...context.running, frame.taskId], accepted: seq + 1 });
  else enqueue.assign({ queue: error === undefined ? [...context.queue, { id: frame.taskId, seq }] : context.queue, accepted: seq + 1 });
}

const failUnreachable = [
  { type: 'recordError', params: ({ context }: { context: ProviderContext }) => ({ error: unreachable(context) }) },
  { type: 'failQueued', params: ({ context }: { context: ProviderContext }) => ({ error: unreachableForCallers(context) }) },
] as const;

export const providerMachine = setup({
  types: {
    input: {} as ProviderInput,
    context: {} as ProviderContext,
    events: {} as ProviderEvent,
    emitted: {} as TaskEnded,
  },
  actors: {
    task: taskMachine,
    probe: promisePlaceholder<boolean, ProbeInput>('probe'),
    wakeRecipe: promisePlaceholder<WakeStarted, WakeInput>('wakeRecipe'),
    readiness: promisePlaceholder<Readiness, ProbeInput>('readiness'),
  },
  delays: {
    // 100, 100, 200, 400 … ms with the defaults: a server that loads in 300 ms is caught by the poll at 400.
    wakePoll: ({ context }) => Math.min(context.wakePollMs, context.wakePollStartMs * 2 ** Math.max(0, Math.min(context.wakePolls - 1, 30))),
    wakeMaxWait: ({ context }) => context.wakeMaxWaitMs,
    reprobe: ({ context }) => Math.min(context.reprobeCapMs, context.reprobeMs * 2 ** Math.min(context.reprobes, 30)),
  },
  guards: {
    upstreamAnswered: (_, params: { answered: boolean }) => params.answered,
    hasWake: ({ context }) => context.hasWake,
    hasQueued: ({ context }) => context.queue.length > 0,
    paused: ({ context }) => context.paused,
    upstreamUnreachable: ({ event }) => {
      assertEvent(event, 'task.settled');
      return event.upstreamUnreachable;
    },
    upstreamRefusedKey: ({ event }) => {
      assertEvent(event, 'task.settled');
      return event.upstreamRefusedKey;
    },
  },
  actions: {
    /** While paused the hub hears `paused` whatever the phase; the phase is kept for the resume. */
    reportStatus: enqueueActions(({ context, enqueue }, params: { status: ProviderPhase }) => {
      enqueue.assign({ phase: params.status });
      enqueue.sendParent({ type: 'provider.status', name: context.name, status: context.paused ? 'paused' : params.status, error: context.lastError });
    }),
    pause: enqueueActions(({ context, enqueue, event }) => {
      assertEvent(event, 'provider.pause');
      const { until } = event;
      enqueue.assign({ paused: true, pausedUntil: until });
      enqueue.sendParent({ type: 'provider.status', name: context.name, status: 'paused', error: context.lastError });
    }),
    resume: enqueueActions(({ context, enqueue }) => {
      if (!context.paused) return;
      enqueue.assign({ paused: false, pausedUntil: undefined });
      enqueue.sendParent({ type: 'provider.status', name: context.name, status: context.phase, error: context.lastError });
    }),
    /** Spawn the task actor, queued; refuse it at once if the queue is full or it cannot run here. */
    accept: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'task.received');
      enqueueAccept(context, event, false, enqueue);
    }),
    /**
     * Active: the same, but a task that finds a free slot and nobody waiting runs at once (spawned running: no
     * `task.start` for it, one event fewer per task).
     */
    acceptToRun: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'task.received');
      enqueueAccept(context, event, true, enqueue);
    }),
    /**
     * A running task lost its upstream before it sent anything: it takes its turn again, ahead of every task that has
     * not run yet and behind those sent back before it that arrived earlier. The queue limit is not applied: the task
     * was taken already (the queue may exceed it by up to maxConcurrency).
     */
    requeue: assign(({ context, event }) => {
      assertEvent(event, 'task.upstreamLost');
      const { taskId, seq } = event;
      if (!context.running.includes(taskId)) return {};
      let at = 0;
      while (at < context.queue.length && context.queue[at].seq < seq) at++;
      return {
        running: context.running.filter((id) => id !== taskId),
        queue: [...context.queue.slice(0, at), { id: taskId, seq }, ...context.queue.slice(at)],
      };
    }),
    /** Start queued tasks, oldest first, while slots are free. */
    startQueued: enqueueActions(({ context, enqueue }) => {
      const free = context.maxConcurrency - context.running.length;
      if (free <= 0 || context.queue.length === 0) return;
      const starting = context.queue.slice(0, free);
      for (const { id } of starting) enqueue.sendTo(context.slots.idOf(id)!, { type: 'task.start' });
      enqueue.assign({ queue: context.queue.slice(starting.length), running: [...context.running, ...starting.map(({ id }) => id)] });
    }),
    failQueued: enqueueActions(({ context, enqueue }, params: { error: string }) => {
      for (const { id } of context.queue) enqueue.sendTo(context.slots.idOf(id)!, { type: 'task.fail', error: params.error });
      enqueue.assign({ queue: [] });
    }),
    abortAll: enqueueActions(({ enqueue, event, self }) => {
      assertEvent(event, 'task.abortAll');
      for (const ref of Object.values(self.getSnapshot().children as Record<string, AnyActorRef>)) {
        if (ref.src === 'task') enqueue.sendTo(ref, { type: 'task.fail', error: event.error });
      }
      enqueue.assign({ queue: [] });
    }),
    forwardCancel: enqueueActions(({ context, enqueue, event, self }) => {
      assertEvent(event, 'task.cancel');
      const ref = taskChild(self, context, event.taskId);
      if (ref) enqueue.sendTo(ref, { type: 'task.cancel' });
    }),
    /** A task ended: free its slot, drop its actor, tell the supervisor (and whoever listens, how it ended). */
    release: enqueueActions(({ context, enqueue, event, self }) => {
      assertEvent(event, 'task.settled');
      const { type: _, ...end } = event;
      const task = taskChild(self, context, end.taskId);
      if (!task) return;
      context.slots.release(end.taskId);
      // Most tasks end running: the queue (up to maxQueue long) is only looked through for one that ended in it.
      if (context.running.includes(end.taskId)) enqueue.assign({ running: context.running.filter((id) => id !== end.taskId) });
      else enqueue.assign({ queue: context.queue.filter(({ id }) => id !== end.taskId) });
      enqueue(stopChild(task));
      enqueue.emit({ type: 'task.ended', outcome: end.outcome, task: task.getSnapshot().context as TaskContext });
      enqueue.sendParent({ type: 'task.settled', ...end } satisfies TaskSettled);
    }),
    noteWakeStarted: assign((_, params: WakeStarted) => ({ wakeStartedAt: params.startedAt })),
    /** Both ends stamped by the actors: the recipe's start, the poll that found the upstream ready. */
    recordWake: assign(({ context }, params: { readyAt: number }) => ({ lastWakeMs: params.readyAt - (context.wakeStartedAt ?? params.readyAt), lastError: undefined })),
    recordError: assign((_, params: { error: string }) => ({ lastError: params.error })),
    /** Up again: the next outage starts its reprobes from the first delay, and the last error is history. */
    recordUp: assign({ reprobes: 0, lastError: undefined }),
    countReprobe: assign({ reprobes: ({ context }) => context.reprobes + 1 }),
    startWakePolls: assign({ wakePolls: 0 }),
    countWakePoll: assign({ wakePolls: ({ context }) => context.wakePolls + 1 }),
    notePolled: sendParent(({ context }) => ({ type: 'provider.wakePolled', name: context.name })),
  },
}).createMachine({
  id: 'provider',
  context: ({ input }) => ({ ...input, queue: [], running: [], slots: new TaskSlots(), accepted: 0, reprobes: 0, wakePolls: 0, paused: false, phase: 'probing' as ProviderPhase }),
  initial: 'probing',
  on: {
    'task.received': { actions: 'accept' },
    // Not active: a probe or a wake is already under way, and will start it (or fail it) with the others.
    'task.upstreamLost': { actions: 'requeue' },
    'task.cancel': { actions: 'forwardCancel' },
    'task.abortAll': { actions: 'abortAll' },
    'task.settled': { actions: 'release' },
    'provider.pause': { actions: 'pause' },
    'provider.resume': { actions: 'resume' },
  },
  states: {
    probing: {
      entry: { type: 'reportStatus', params: { status: 'probing' } },
      invoke: {
        id: 'probe',
        src: 'probe',
        input: ({ context }) => ({ name: context.name }),
        onDone: [
          { guard: { type: 'upstreamAnswered', params: ({ event }) => ({ answered: event.output }) }, target: 'active' },
          { guard: 'hasWake', target: 'hibernating' },
          { target: 'unavailable', actions: failUnreachable },
        ],
        onError: [{ guard: 'hasWake', target: 'hibernating' }, { target: 'unavailable', actions: failUnreachable }],
      },
    },
    active: {
      entry: ['recordUp', { type: 'reportStatus', params: { status: 'active' } }, 'startQueued'],
      on: {
        'task.received': { actions: ['acceptToRun', 'startQueued'] },
        // Probed down with a wake recipe, it is woken (hibernating → waking) before the task runs again.
        'task.upstreamLost': { target: 'probing', actions: 'requeue' },
        'task.settled': [
          { guard: 'upstreamUnreachable', target: 'probing', actions: 'release' },
          // Probing would not tell: llama-server, for one, checks no key on its readiness endpoints.
          { guard: 'upstreamRefusedKey', target: 'unavailable', actions: ['release', { type: 'recordError', params: { error: REFUSED_KEY } }] },
          { actions: ['release', 'startQueued'] },
        ],
      },
    },
    hibernating: {
      entry: { type: 'reportStatus', params: { status: 'hibernating' } },
      always: { guard: 'hasQueued', target: 'waking' },
      // Paused: the task is refused, and nothing is woken for it.
      on: { 'task.received': [{ guard: 'paused', actions: 'accept' }, { actions: 'accept', target: 'waking' }] },
    },
    waking: {
      entry: [{ type: 'reportStatus', params: { status: 'waking' } }, 'startWakePolls'],
      after: {
        wakeMaxWait: {
          target: 'hibernating',
          actions: [
            { type: 'recordError', params: ({ context }) => ({ error: `provider '${context.name}' did not become ready within ${context.wakeMaxWaitMs} ms of its wake` }) },
            { type: 'failQueued', params: ({ context }) => ({ error: context.lastError ?? 'wake timed out' }) },
          ],
        },
      },
      initial: 'starting',
      states: {
        starting: {
          invoke: {
            id: 'wakeRecipe',
            src: 'wakeRecipe',
            input: ({ context }) => ({ name: context.name }),
            onDone: { target: 'polling', actions: { type: 'noteWakeStarted', params: ({ event }) => event.output } },
            onError: {
              target: '#provider.hibernating',
              actions: [
                { type: 'recordError', params: ({ context, event }) => ({ error: `wake of provider '${context.name}' failed: ${(event.error as Error)?.message ?? String(event.error)}` }) },
                { type: 'failQueued', params: ({ context, event }) => ({ error: wakeFailedForCallers(context.name, event.error) }) },
              ],
            },
          },
        },
        polling: {
          entry: 'notePolled',
          invoke: {
            id: 'readiness',
            src: 'readiness',
            input: ({ context }) => ({ name: context.name }),
            onDone: [
              {
                guard: { type: 'upstreamAnswered', params: ({ event }) => ({ answered: event.output.ready }) },
                target: '#provider.active',
                actions: { type: 'recordWake', params: ({ event }) => ({ readyAt: event.output.at }) },
              },
              { target: 'waiting' },
            ],
            onError: 'waiting',
          },
        },
        waiting: { after: { wakePoll: { target: 'polling', actions: 'countWakePoll' } } },
      },
    },
    unavailable: {
      entry: { type: 'reportStatus', params: { status: 'unavailable' } },
      after: { reprobe: { target: 'probing', actions: 'countReprobe' } },
      on: { 'task.received': [{ guard: 'paused', actions: 'accept' }, { actions: 'accept', target: 'probing' }] },
    },
  },
});

export type ProviderActorRef = ActorRefFrom<typeof providerMachine>;
