// One task frame's life: queued → running → done | failed | cancelled, or → reporting → failed (ARCHITECTURE.md);
// running goes back to queued once when its first run found the upstream unreachable before anything was sent and its
// provider can wake. The provider machine spawns one per frame and says when it may start (or spawns it with a free
// slot, and it runs at once). The run delivers what it produced (chunks and the final result, actors/run-inference.ts:
// every answer leaves there); `reporting` posts what the machine decided instead, always an error (the run's failure,
// a refusal without running, a shutdown).
// Its last states are not `final`: the task tells its parent `task.settled` and the parent stops it. A final state
// would send the parent `xstate.done.actor.<task id>`, an event type per task, and XState memoizes transitions per
// event type on every state node that sees one, for ever (bench/memo-growth.ts).
import { assign, enqueueActions, sendParent, setup, type ActorRefFrom, type ErrorActorEvent } from 'xstate';
import { isTaskFailure, TASK_ERROR, type TaskFailure } from '../src/protocol/errors.ts';
import type { TaskResult, WorkFrame } from '../src/protocol/index.ts';
import { promisePlaceholder } from './placeholder.ts';

/** A frame to run: its provider spawns one of these per frame. */
export interface RunnableTaskInput {
  frame: WorkFrame;
  /** When its frame came off the task stream (stamped there, by the task-stream actor). */
  receivedAt: number;
  /** The session its frame was sent to (stamped there too): its result names it. */
  sessionId: string;
  /** Set when the task is answered with an error without running (a full queue, no wake recipe). */
  error?: string;
  /** The HTTP status that error carries to the hub (SPEC.md §5): 503 when the provider is paused. */
  errorStatus?: number;
  /**
   * Its provider has a wake recipe: a first run that finds the upstream unreachable before any of its result reached
   * the hub goes back to the queue (`task.upstreamLost`) so the provider can wake the upstream and run it again.
   */
  mayWake?: boolean;
  /** Its place in its provider's arrival order, so a task sent back to the queue keeps its turn. */
  seq?: number;
  /** Its provider gave it a slot as it took it: it runs at once, without waiting for `task.start`. */
  start?: boolean;
}

/** A task answered with an error without a frame to run (unknown provider, malformed frame, model gone). */
export interface RefusedTaskInput {
  taskId: string;
  /** The wire name it was for ('' when its frame named none that could be read). */
  llmName: string;
  error: string;
  /** The HTTP status that error carries to the hub (SPEC.md §5): 503 when the registrar is stopping. */
  errorStatus?: number;
  /** When the task arrived, and the session it was sent to, where known. */
  receivedAt?: number;
  sessionId?: string;
}

export type TaskInput = RunnableTaskInput | RefusedTaskInput;

export interface RunTaskInput {
  frame: WorkFrame;
  receivedAt: number;
  /** The session its frame was sent to: its streamed results name it. */
  sessionId: string;
}
export interface RunTaskOutput {
  /**
   * The final result the run delivered: a 200 body, the `[DONE]` chunk after streamed chunks, or an upstream's
   * refusal as an error result that carries its status (SPEC.md §5).
   */
  result: TaskResult;
}
export interface PostResultInput {
  taskId: string;
  result: TaskResult;
  /** The session its frame was sent to; absent for a task refused before any session was known. */
  sessionId?: string;
}

export type TaskOutcome = 'done' | 'failed' | 'cancelled';

export type TaskEvent =
  | { type: 'task.start' }
  | { type: 'task.cancel' }
  /** The task cannot run: its provider's wake failed, or the daemon is shutting down. */
  | { type: 'task.fail'; error: string };

/**
 * What a task tells its provider when its first run found the upstream unreachable before anything was sent: it is
 * queued again, and the provider should find out why (probe, and wake it if it has a recipe).
 */
export interface TaskUpstreamLost {
  type: 'task.upstreamLost';
  taskId: string;
  seq: number;
}

/** How a task ended. */
export interface TaskEnd {
  taskId: string;
  outcome: TaskOutcome;
  upstreamUnreachable: boolean;
  /** The upstream answered 401 or 403: its provider refuses our apiKey. */
  upstreamRefusedKey: boolean;
}

/**
 * What the machine that stops a task emits for the daemon's readers (status tracker, activity log, metrics): how it
 * ended and its last context. One per task, for whoever listens with `.on('task.ended')`: nothing inspects every
 * transition of every task to learn it.
 */
export interface TaskEnded {
  type: 'task.ended';
  outcome: TaskOutcome;
  task: TaskContext;
}

/** What a task tells its parent from its last state, and a provider the supervisor: the parent stops it then. */
export interface TaskSettled extends TaskEnd {
  type: 'task.settled';
}

/**
 * What the runTask and postResult actors fail with (src/protocol/errors.ts); anything else they let through is a bug
 * of theirs, read as `internal`, its text kept, never a crash.
 */
function failureOf(error: unknown): TaskFailure {
  if (isTaskFailure(error)) return error;
  return { code: TASK_ERROR.internal, message: error instanceof Error ? error.message : String(error), nothingSent: false };
}
/** The result that tells the hub (and the caller) why the task failed: built here, once, from the failure. */
function errorResult(error: unknown): TaskResult {
  return { error: failureOf(error).message };
}
/** 401/403 from the upstream, thrown or carried in an error result (SPEC.md §5). */
function refusesKey(status: unknown): boolean {
  return status === 401 || status === 403;
}

/** The error of an invoked actor, as a guard's params. */
const errorParams = ({ event }: { event: ErrorActorEvent }) => ({ error: event.error });

/** Marks the states a task ends in, for readers of the machine (the drawings). */
export const END_TAG = 'end';

export interface TaskContext {
  taskId: string;
  llmName: string;
  /** Absent for a task refused without a frame to run. */
  frame?: WorkFrame;
  /** When it arrived, where known (stamped at the edge: the machine reads no clock). */
  receivedAt?: number;
  /** The session its frame was sent to, where known: its result names it. */
  sessionId?: string;
  result?: TaskResult;
  upstreamUnreachable: boolean;
  upstreamRefusedKey: boolean;
  mayWake: boolean;
  seq: number;
  /** It was sent back to the queue once already: the next unreachable upstream is its error. */
  requeued: boolean;
  /** Given a slot when it was spawned (`RunnableTaskInput.start`). */
  startedAtOnce: boolean;
}

/** An error answered without running, with the status it carries to the hub when it has one. */
function refusal(error: string, status: number | undefined): TaskResult {
  return { error, ...(status === undefined ? {} : { status }) };
}

function contextOf(input: TaskInput): TaskContext {
  const common = { upstreamUnreachable: false, upstreamRefusedKey: false, requeued: false };
  if (!('frame' in input)) {
    const { taskId, llmName, receivedAt, sessionId } = input;
    return { ...common, taskId, llmName, receivedAt, sessionId, result: refusal(input.error, input.errorStatus), mayWake: false, seq: 0, startedAtOnce: false };
  }
  return {
    ...common,
    taskId: input.frame.taskId,
    llmName: input.frame.llmName,
    frame: input.frame,
    receivedAt: input.receivedAt,
    sessionId: input.sessionId,
    result: input.error === undefined ? undefined : refusal(input.error, input.errorStatus),
    mayWake: input.mayWake ?? false,
    seq: input.seq ?? 0,
    startedAtOnce: input.start === true && input.error === undefined,
  };
}

export const taskMachine = setup({
  types: {
    input: {} as TaskInput,
    context: {} as TaskContext,
    events: {} as TaskEvent,
  },
  actors: {
    runTask: promisePlaceholder<RunTaskOutput, RunTaskInput>('runTask'),
    postResult: promisePlaceholder<void, PostResultInput>('postResult'),
  },
  guards: {
    answeredWithoutRunning: ({ context }) => context.result !== undefined,
    /** Spawned with a slot: only its first time in `queued` (a task sent back waits for `task.start`). */
    startsAtOnce: ({ context }) => context.startedAtOnce && !context.requeued,
    refused: (_, params: { output: RunTaskOutput }) => 'error' in params.output.result,
    taskGone: (_, params: { error: unknown }) => failureOf(params.error).code === TASK_ERROR.gone,
    /** The first run found the upstream unreachable before anything was posted, and its provider can wake it. */
    mayRunAgain: ({ context }, params: { error: unknown }) => {
      const failure = failureOf(params.error);
      return context.mayWake && !context.requeued && failure.code === TASK_ERROR.upstreamUnreachable && failure.nothingSent;
    },
  },
  actions: {
    failWith: assign((_, params: { error: string }) => ({ result: { error: params.error } })),
    // The outcome travels in the event (and in `task.ended`), not in the context: an assign would copy the context once
    // more per task for nobody.
    settle: sendParent(({ context }, params: { outcome: TaskOutcome }) => ({
      type: 'task.settled',
      taskId: context.taskId,
      outcome: params.outcome,
      upstreamUnreachable: context.upstreamUnreachable,
      upstreamRefusedKey: context.upstreamRefusedKey,
    }) satisfies TaskSettled),
    /** Back to the queue, once: tell the provider, which puts it back in its turn and looks at the upstream. */
    requeue: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ requeued: true });
      enqueue.sendParent({ type: 'task.upstreamLost', taskId: context.taskId, seq: context.seq } satisfies TaskUpstreamLost);
    }),
  },
}).createMachine({
  id: 'task',
  context: ({ input }) => contextOf(input),
  initial: 'queued',
  states: {
    queued: {
      always: [
        { guard: 'answeredWithoutRunning', target: 'reporting' },
        { guard: 'startsAtOnce', target: 'running' },
      ],
      on: {
        'task.start': 'running',
        'task.cancel': 'cancelled',
        'task.fail': {
          target: 'reporting',
          actions: { type: 'failWith', params: ({ event }) => ({ error: event.error }) },
        },
      },
    },
    running: {
      invoke: {
        id: 'run',
        src: 'runTask',
        // Only a task with a frame gets here: one refused without a frame leaves `queued` for `reporting` at once.
        input: ({ context }) => ({ frame: context.frame!, receivedAt: context.receivedAt ?? 0, sessionId: context.sessionId! }),
        // The hub has the result: the run delivered it.
        onDone: [
          {
            guard: { type: 'refused', params: ({ event }) => ({ output: event.output }) },
            target: 'failed',
            actions: assign({
              result: ({ event }) => event.output.result,
              upstreamRefusedKey: ({ event }) => 'error' in event.output.result && refusesKey(event.output.result.status),
            }),
          },
          { target: 'done', actions: assign({ result: ({ event }) => event.output.result }) },
        ],
        onError: [
          { guard: { type: 'taskGone', params: errorParams }, target: 'cancelled' },
          // Not a failure (yet): the output, read when the task ends, says nothing of this first run.
          { guard: { type: 'mayRunAgain', params: errorParams }, target: 'queued', actions: 'requeue' },
          {
            target: 'reporting',
            actions: assign({
              result: ({ event }) => errorResult(event.error),
              upstreamUnreachable: ({ event }) => failureOf(event.error).code === TASK_ERROR.upstreamUnreachable,
              upstreamRefusedKey: ({ event }) => refusesKey(failureOf(event.error).status),
            }),
          },
        ],
      },
      on: {
        'task.cancel': 'cancelled',
        'task.fail': {
          target: 'reporting',
          actions: { type: 'failWith', params: ({ event }) => ({ error: event.error }) },
        },
      },
    },
    reporting: {
      invoke: {
        id: 'post',
        src: 'postResult',
        input: ({ context }) => ({ taskId: context.taskId, result: context.result!, sessionId: context.sessionId }),
        // What is reported here is always an error: a task that produced its answer delivered it while running.
        onDone: 'failed',
        onError: [{ guard: { type: 'taskGone', params: errorParams }, target: 'cancelled' }, { target: 'failed' }],
      },
      on: { 'task.cancel': 'cancelled' },
    },
    // The last states: nothing leaves them; the parent stops the task when it hears `task.settled`.
    done: { tags: END_TAG, entry: { type: 'settle', params: { outcome: 'done' } } },
    failed: { tags: END_TAG, entry: { type: 'settle', params: { outcome: 'failed' } } },
    cancelled: { tags: END_TAG, entry: { type: 'settle', params: { outcome: 'cancelled' } } },
  },
});

export type TaskActorRef = ActorRefFrom<typeof taskMachine>;

/** The states a task ends in. */
export const TASK_ENDS: ReadonlySet<string> = new Set<TaskOutcome>(['done', 'failed', 'cancelled']);
