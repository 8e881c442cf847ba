// One task frame's life: queued → running → reporting → done | failed | cancelled (ARCHITECTURE.md).
// The provider machine spawns one per frame and says when it may start; the actors run it and post its result.
import { assign, setup, type ActorRefFrom } from 'xstate';
import type { TaskResult, WorkFrame } from '../src/protocol/index.ts';
import { promisePlaceholder } from './placeholder.ts';

export interface TaskInput {
  frame: WorkFrame;
  receivedAt: number;
  /** Set when the task is answered with an error without running (unknown provider, full queue, restart…). */
  error?: string;
}

export interface RunTaskInput {
  frame: WorkFrame;
  receivedAt: number;
}
export interface RunTaskOutput {
  /** The final result to post: a 200 body, or the `[DONE]` chunk after streamed chunks. */
  result: TaskResult;
}
export interface PostResultInput {
  taskId: string;
  result: TaskResult;
}

export type TaskOutcome = 'done' | 'failed' | 'cancelled';

/** Thrown by the actors when the hub answers 404 for the task: it is gone, stop working on it. */
export const TASK_GONE = 'TaskGoneError';
/** Thrown by run-inference when the upstream did not answer at all. */
export const UPSTREAM_UNREACHABLE = 'unreachable';

export type TaskEvent =
  | { type: 'task.start' }
  | { type: 'task.cancel' }
  /** The task cannot run: its provider's wake failed, or the daemon is shutting down. */
  | { type: 'task.fail'; error: string };

/** A task actor's output: how it ended. Its parent gets it as the actor's `xstate.done.actor.<taskId>` event. */
export interface TaskEnd {
  taskId: string;
  outcome: TaskOutcome;
  upstreamUnreachable: boolean;
}

/** What a provider tells the supervisor when one of its tasks ended. */
export interface TaskSettled extends TaskEnd {
  type: 'task.settled';
}

/** The completion event of a task actor, matched with the `xstate.done.actor.*` wildcard. */
export function taskEndOf(event: { type: string; output?: unknown }): TaskEnd | undefined {
  const output = event.output as Partial<TaskEnd> | undefined;
  return typeof output?.taskId === 'string' && output.outcome !== undefined ? (output as TaskEnd) : undefined;
}

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { name?: string }).name : undefined;
}
function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export const taskMachine = setup({
  types: {
    input: {} as TaskInput,
    context: {} as {
      frame: WorkFrame;
      receivedAt: number;
      result?: TaskResult;
      upstreamUnreachable: boolean;
      outcome?: TaskOutcome;
    },
    output: {} as TaskEnd,
    events: {} as TaskEvent,
  },
  actors: {
    runTask: promisePlaceholder<RunTaskOutput, RunTaskInput>('runTask'),
    postResult: promisePlaceholder<void, PostResultInput>('postResult'),
  },
  guards: {
    answeredWithoutRunning: ({ context }) => context.result !== undefined,
    taskGone: ({ event }) => errorName((event as { error?: unknown }).error) === TASK_GONE,
    resultIsError: ({ context }) => context.result !== undefined && 'error' in context.result,
  },
  actions: {
    failWith: assign((_, params: { error: string }) => ({ result: { error: params.error } })),
    settle: assign((_, params: { outcome: TaskOutcome }) => ({ outcome: params.outcome })),
  },
}).createMachine({
  id: 'task',
  context: ({ input }) => ({
    frame: input.frame,
    receivedAt: input.receivedAt,
    result: input.error === undefined ? undefined : { error: input.error },
    upstreamUnreachable: false,
  }),
  output: ({ context }) => ({
    taskId: context.frame.taskId,
    outcome: context.outcome ?? 'failed',
    upstreamUnreachable: context.upstreamUnreachable,
  }),
  initial: 'queued',
  states: {
    queued: {
      always: { guard: 'answeredWithoutRunning', target: 'reporting' },
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
        input: ({ context }) => ({ frame: context.frame, receivedAt: context.receivedAt }),
        onDone: {
          target: 'reporting',
          actions: assign({ result: ({ event }) => event.output.result }),
        },
        onError: [
          { guard: 'taskGone', target: 'cancelled' },
          {
            target: 'reporting',
            actions: assign({
              result: ({ event }) => ({ error: errorMessage(event.error) }),
              upstreamUnreachable: ({ event }) =>
                (event.error as { kind?: string } | undefined)?.kind === UPSTREAM_UNREACHABLE,
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
        input: ({ context }) => ({ taskId: context.frame.taskId, result: context.result! }),
        onDone: [{ guard: 'resultIsError', target: 'failed' }, { target: 'done' }],
        onError: [{ guard: 'taskGone', target: 'cancelled' }, { target: 'failed' }],
      },
      on: { 'task.cancel': 'cancelled' },
    },
    done: { type: 'final', entry: { type: 'settle', params: { outcome: 'done' } } },
    failed: { type: 'final', entry: { type: 'settle', params: { outcome: 'failed' } } },
    cancelled: { type: 'final', entry: { type: 'settle', params: { outcome: 'cancelled' } } },
  },
});

export type TaskActorRef = ActorRefFrom<typeof taskMachine>;
