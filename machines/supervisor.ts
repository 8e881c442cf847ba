// The root: one session, one provider machine per published provider; routes task frames by wire name and
// keeps the facts that survive a restart (session id, provider statuses, tasks in flight). A provider with
// `model: "*"` is a catalog: one provider machine per model its server lists, added and stopped as the list changes.
import { assertEvent, assign, enqueueActions, sendTo, setup, stateIn, stopChild, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { promisePlaceholder } from './placeholder.ts';
import { RecentIds, TasksInFlight } from './records.ts';
import { providerMachine, type ProviderActorRef, type ProviderInput, type ProviderNotice, type ProviderPhase } from './provider.ts';
import { catalogMachine, type ModelsListed } from './catalog.ts';
import { sessionMachine, type FrameEvent, type SessionInput, type SessionNotice } from './session.ts';
import { taskMachine, type TaskContext, type TaskEnded, type TaskSettled } from './task.ts';

/** A provider of the config with `model: "*"`: what each of its models' provider machines starts from. */
export interface CatalogInput {
  /** The provider's name in the config. */
  source: string;
  /** Everything of a model's provider machine but its wire name. */
  provider: Omit<ProviderInput, 'name'>;
  /** Wire names of the models listed when the daemon started (also among `providers`). */
  names: string[];
}

export interface SupervisorInput {
  /** The session's input; the supervisor adds itself as where frames go. */
  session: Omit<SessionInput, 'frames'>;
  providers: ProviderInput[];
  catalogs?: CatalogInput[];
  modelSyncMs?: number;
  drainMs: number;
  /** After the drain deadline, how long the error results of what was left may take before we stop anyway. */
  forceGraceMs: number;
  /** Tasks that were in flight when the daemon last died: each is answered `registrar restarted`. */
  restartedTasks: RestartedTask[];
  /** How many finished task ids to remember, so a frame re-sent by the hub is not run twice. */
  rememberTasks?: number;
}

export interface RestartedTask {
  taskId: string;
  llmName: string;
}
/** What the actor answering the restarted tasks is given; it never fails (a result it cannot post is logged lost). */
export interface AnswerRestartedInput {
  tasks: RestartedTask[];
  /** The session they were taken on, persisted with them: their results name it (SPEC.md §4). */
  sessionId?: string;
}

export type SupervisorEvent =
  | SessionNotice
  | FrameEvent
  | ProviderNotice
  | ModelsListed
  /** SIGTERM/SIGINT: the first drains, a second one forces. */
  | { type: 'daemon.drain' }
  /** Its owner pauses or resumes sharing of these providers (wire names; empty: all of them). */
  | { type: 'providers.pause'; names: string[]; until?: number }
  | { type: 'providers.resume'; names: string[] };

export interface SupervisorContext {
  sessionId?: string;
  /** The provider machines by wire name, in the order they were published. */
  providers: Record<string, ProviderActorRef>;
  providerStatus: Record<string, ProviderPhase>;
  /** Per catalog (its config name): what its models' provider machines start from, and their wire names now. */
  catalogs: Record<string, { provider: CatalogInput['provider']; names: string[] }>;
  /** Work frames taken and not yet answered: taskId → wire name of the target (or '' when it had none). */
  inFlight: TasksInFlight;
  /** Tasks of the last run still being answered `registrar restarted` (persisted as in flight until then). */
  restarted: RestartedTask[];
  /**
   * Their ids, so a frame the hub re-sends for one of them is not run. A Set: thousands of ids would otherwise be
   * copied into every inspection event of the supervisor.
   */
  restartedIds: ReadonlySet<string>;
  /** Ids of recently finished tasks (the last `rememberTasks` of them): kept in place, O(1) per task. */
  recent: RecentIds;
  drainMs: number;
  forceGraceMs: number;
}

const providerId = (name: string) => `provider:${name}`;

/** Whether the frame of this task id was taken already (in flight, answered as restarted, or finished lately). */
function seen(context: SupervisorContext, taskId: string): boolean {
  return context.inFlight.has(taskId) || context.restartedIds.has(taskId) || context.recent.has(taskId);
}

export const supervisorMachine = setup({
  types: {
    input: {} as SupervisorInput,
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    emitted: {} as TaskEnded,
  },
  actors: {
    session: sessionMachine,
    provider: providerMachine,
    task: taskMachine,
    catalog: catalogMachine,
    // One actor for all of them, a bounded number of POSTs at a time: a task actor each cost O(tasks) per spawn and
    // per end, minutes for 20,000 of them, with the event loop (and the status server) blocked meanwhile.
    answerRestarted: promisePlaceholder<void, AnswerRestartedInput>('answerRestarted'),
  },
  delays: {
    drainDeadline: ({ context }) => context.drainMs,
    forceGrace: ({ context }) => context.forceGraceMs,
  },
  guards: {
    nothingInFlight: ({ context }) => context.inFlight.size === 0 && context.restarted.length === 0,
  },
  actions: {
    /** A task frame from the stream: run it once, on the provider it names, or answer why not. */
    route: enqueueActions(({ context, enqueue, event }, params: { stopping: boolean }) => {
      assertEvent(event, 'stream.task');
      const { frame, receivedAt, sessionId } = event;
      if (frame.kind === 'cancel') {
        for (const ref of Object.values(context.providers)) enqueue.sendTo(ref, { type: 'task.cancel', taskId: frame.taskId });
        return;
      }
      if (seen(context, frame.taskId)) return;
      context.inFlight.add(frame.taskId, frame.llmName);
      const { taskId, llmName } = frame;
      const provider = context.providers[llmName];
      if (params.stopping) {
        // Draining: the caller hears 503 at once and may ask again (another pool member, or this one restarted).
        enqueue.spawnChild('task', { id: taskId, input: { taskId, llmName, receivedAt, sessionId, error: 'its registrar is stopping: ask again in a moment', errorStatus: 503 } });
      } else if (provider) {
        enqueue.sendTo(provider, { type: 'task.received', frame, receivedAt, sessionId });
      } else {
        enqueue.spawnChild('task', { id: taskId, input: { taskId, llmName, receivedAt, sessionId, error: `provider '${llmName}' not registered locally` } });
      }
    }),
    /** A frame that failed its schema but names a task: answer it so its caller is not left waiting. */
    answerBadFrame: enqueueActions(({ context, enqueue, event }) => {
      assertEvent(event, 'stream.badFrame');
      const { taskId, error, receivedAt, sessionId } = event;
      if (taskId === undefined || seen(context, taskId)) return;
      context.inFlight.add(taskId, '');
      enqueue.spawnChild('task', { id: taskId, input: { taskId, llmName: '', receivedAt, sessionId, error: `malformed task frame: ${error}` } });
    }),
    /** A task ended, on a provider or among the supervisor's own answers (which it stops then, and tells how it ended). */
    settle: enqueueActions(({ context, event, enqueue, self }) => {
      assertEvent(event, 'task.settled');
      const end = event;
      context.inFlight.delete(end.taskId);
      context.recent.add(end.taskId);
      const children = self.getSnapshot().children as Record<string, AnyActorRef | undefined>;
      const own = children[end.taskId];
      // A task id is the hub's to choose: one that names the session, a catalog or a provider must not stop it.
      if (own && own.src === 'task') {
        enqueue(stopChild(own));
        enqueue.emit({ type: 'task.ended', outcome: end.outcome, task: own.getSnapshot().context as TaskContext });
      }
    }),
    /** Active, hibernating, unavailable and paused are wire statuses the hub shows; probing and waking pass. */
    reportWireStatus: enqueueActions(({ enqueue, event }) => {
      assertEvent(event, 'provider.status');
      const { name, status } = event;
      if (status === 'active' || status === 'hibernating' || status === 'unavailable' || status === 'paused') {
        enqueue.sendTo('session', { type: 'session.providerStatus', name, status });
      }
    }),
    /** A register only knows active and hibernating: tell the hub at once which providers are down or paused. */
    reportUnavailable: enqueueActions(({ context, enqueue }) => {
      for (const [name, status] of Object.entries(context.providerStatus)) {
        if (status === 'unavailable' || status === 'paused') enqueue.sendTo('session', { type: 'session.providerStatus', name, status });
      }
    }),
    /**
     * A catalog's server lists other models now: start a provider machine for each new one, stop those of the models
     * gone (their tasks in flight are answered with the reason), and register again with the same session id.
     */
    syncModels: enqueueActions(({ context, enqueue, event }) => {
      assertEvent(event, 'models.listed');
      const { source, names } = event;
      const catalog = context.catalogs[source];
      if (!catalog) return;
      const added = names.filter((name) => !catalog.names.includes(name) && !(name in context.providers));
      const removed = catalog.names.filter((name) => !names.includes(name));
      if (added.length === 0 && removed.length === 0) return;
      for (const name of removed) enqueue(stopChild(providerId(name)));
      for (const [taskId, llmName] of context.inFlight.entries()) {
        if (!removed.includes(llmName)) continue;
        // Taken on the session of now: a task of a session that changed since is the hub's no longer.
        const error = `model '${llmName}' is no longer listed by its server`;
        enqueue.spawnChild('task', { id: taskId, input: { taskId, llmName, sessionId: context.sessionId, error } });
      }
      const providerNames = [...Object.keys(context.providers).filter((name) => !removed.includes(name)), ...added];
      enqueue.assign(({ spawn }) => {
        const providers: Record<string, ProviderActorRef> = {};
        const providerStatus: Record<string, ProviderPhase> = {};
        for (const name of providerNames) {
          providers[name] = context.providers[name] ?? spawn('provider', { id: providerId(name), input: { ...catalog.provider, name } });
          providerStatus[name] = context.providerStatus[name] ?? 'probing';
        }
        const kept = catalog.names.filter((name) => !removed.includes(name));
        return { providers, providerStatus, catalogs: { ...context.catalogs, [source]: { ...catalog, names: [...kept, ...added] } } };
      });
      enqueue.sendTo('session', { type: 'session.publish', names: providerNames });
    }),
    /** Pause or resume: the named providers (every one for none), each told on its own. */
    forwardPause: enqueueActions(({ context, enqueue, event }) => {
      assertEvent(event, ['providers.pause', 'providers.resume']);
      const names = event.names.length === 0 ? Object.keys(context.providers) : event.names;
      const sent = event.type === 'providers.pause' ? { type: 'provider.pause' as const, until: event.until } : { type: 'provider.resume' as const };
      for (const name of names) {
        const ref = context.providers[name];
        if (ref) enqueue.sendTo(ref, sent);
      }
    }),
    abortAll: enqueueActions(({ context, enqueue }) => {
      for (const ref of Object.values(context.providers)) {
        enqueue.sendTo(ref, { type: 'task.abortAll', error: 'registrar shutting down: the task did not finish before the drain deadline' });
      }
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn, self }) => {
    const providers: Record<string, ProviderActorRef> = {};
    for (const provider of input.providers) {
      providers[provider.name] = spawn('provider', { id: providerId(provider.name), input: provider });
    }
    const catalogs: SupervisorContext['catalogs'] = {};
    for (const catalog of input.catalogs ?? []) {
      catalogs[catalog.source] = { provider: catalog.provider, names: catalog.names };
      spawn('catalog', { id: `catalog:${catalog.source}`, input: { source: catalog.source, modelSyncMs: input.modelSyncMs ?? 30_000 } });
    }
    spawn('session', { id: 'session', input: { ...input.session, frames: self } });
    return {
      sessionId: input.session.sessionId,
      providers,
      providerStatus: Object.fromEntries(input.providers.map((p) => [p.name, 'probing' as const])),
      catalogs,
      inFlight: new TasksInFlight(),
      restarted: input.restartedTasks,
      restartedIds: new Set(input.restartedTasks.map((task) => task.taskId)),
      // Remembered past their answers too, like finished tasks: a frame the hub re-sent may come after them.
      recent: new RecentIds(input.rememberTasks ?? 1_000, input.restartedTasks.map((task) => task.taskId)),
      drainMs: input.drainMs,
      forceGraceMs: input.forceGraceMs,
    };
  },
  invoke: {
    id: 'answerRestarted',
    src: 'answerRestarted',
    input: ({ context }) => ({ tasks: context.restarted, sessionId: context.sessionId }),
    onDone: { actions: assign({ restarted: [], restartedIds: new Set<string>() }) },
  },
  on: {
    'session.registered': { actions: [assign({ sessionId: ({ event }) => event.sessionId }), 'reportUnavailable'] },
    'session.forgotten': { actions: assign({ sessionId: undefined }) },
    'provider.status': {
      actions: [
        assign({ providerStatus: ({ context, event }) => ({ ...context.providerStatus, [event.name]: event.status }) }),
        'reportWireStatus',
      ],
    },
    'provider.wakePolled': { actions: sendTo('session', { type: 'session.heartbeatNow' }) },
    'task.settled': { actions: 'settle' },
    // Answered while draining too: the hub waits for its answer as for any task's.
    'stream.badFrame': { actions: 'answerBadFrame' },
    'providers.pause': { actions: 'forwardPause' },
    'providers.resume': { actions: 'forwardPause' },
    // The session's done event, not a notice before it: a final supervisor would be sent the session's end after it
    // stopped. (Tasks end by `task.settled` and are stopped by their parent: they reach no final state.)
    'xstate.done.actor.session': { guard: stateIn('#supervisor.leaving'), target: '.stopped' },
  },
  initial: 'running',
  states: {
    running: {
      on: {
        'stream.task': { actions: { type: 'route', params: { stopping: false } } },
        'models.listed': { actions: 'syncModels' },
        'daemon.drain': 'draining',
      },
    },
    draining: {
      entry: sendTo('session', { type: 'session.drain' }),
      always: { guard: 'nothingInFlight', target: 'leaving' },
      after: { drainDeadline: 'forcing' },
      on: { 'daemon.drain': 'forcing', 'stream.task': { actions: { type: 'route', params: { stopping: true } } } },
    },
    forcing: {
      entry: 'abortAll',
      on: { 'stream.task': { actions: { type: 'route', params: { stopping: true } } } },
      always: { guard: 'nothingInFlight', target: 'leaving' },
      after: { forceGrace: 'stopped' },
    },
    // Every result is posted: the session takes leave of the hub, so its rows go inactive at once (SPEC.md §6).
    leaving: {
      entry: sendTo('session', { type: 'session.leave' }),
      // The session's end (the root's `xstate.done.actor.*`) takes it to stopped.
    },
    stopped: {
      type: 'final',
      // The session is over already when it took its leave.
      entry: enqueueActions(({ enqueue, self }) => {
        const session = (self.getSnapshot().children as Record<string, AnyActorRef | undefined>).session;
        if (session?.getSnapshot().status === 'active') enqueue.sendTo(session, { type: 'session.stop' });
      }),
    },
  },
});

export type SupervisorActorRef = ActorRefFrom<typeof supervisorMachine>;
