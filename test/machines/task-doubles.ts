// What the task and provider machine tests share: frames, the failures the actors report, and a task machine whose
// runs and result posts the test settles by hand (a run delivers its result, as the real one does).
import { expect } from 'vitest';
import { fromPromise } from 'xstate';
import { taskMachine, type PostResultInput, type RunTaskInput, type RunTaskOutput } from '../../machines/task.ts';
import { TASK_ERROR, type TaskErrorCode, type TaskFailure } from '../../src/protocol/errors.ts';
import type { InferFrame, WakeFrame } from '../../src/protocol/index.ts';
import type { underParent } from './harness.ts';

export const infer = (taskId: string, llmName = 'local'): InferFrame => ({
  kind: 'infer', taskId, llmName, streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] },
});
export const wake = (taskId: string, llmName = 'local'): WakeFrame => ({ kind: 'wake', taskId, llmName });

/** How the actors fail (src/protocol/errors.ts). */
export const failure = (code: TaskErrorCode, message: string, nothingSent: boolean, status?: number): TaskFailure => ({ code, message, nothingSent, ...(status === undefined ? {} : { status }) });
/** What run-inference throws when the upstream refused the connection before anything was posted. */
export const upstreamLost = () => failure(TASK_ERROR.upstreamUnreachable, 'cannot reach http://127.0.0.1:1/v1: connect ECONNREFUSED', true);
/** The same, after some of the streamed answer had been posted. */
export const upstreamLostMidStream = () => failure(TASK_ERROR.upstreamUnreachable, 'connection to http://127.0.0.1:1/v1 lost mid-answer', false);

/** Deferred promises the test resolves by hand, keyed by task id (the latest run of each). */
export function controllable() {
  const runs = new Map<string, { resolve: (o: RunTaskOutput) => void; reject: (e: unknown) => void; signal: AbortSignal; sessionId: string }>();
  /** Every run of an infer task, in the order they started (a task run again shows twice). */
  const started: string[] = [];
  /** What was posted, without the session it named (kept in `postedOn`). */
  const posts: Omit<PostResultInput, 'sessionId'>[] = [];
  const postedOn: (string | undefined)[] = [];
  let postFails: unknown;
  const post = (input: PostResultInput) => {
    posts.push({ taskId: input.taskId, result: input.result });
    postedOn.push(input.sessionId);
    if (postFails) throw postFails;
  };
  const task = taskMachine.provide({
    actors: {
      // As the real run does, it delivers what it produced.
      runTask: fromPromise<RunTaskOutput, RunTaskInput>(async ({ input, signal }) => {
        const output: RunTaskOutput =
          input.frame.kind === 'wake'
            ? { result: { status: 200, body: { ok: true, ms: 0 } } }
            : await new Promise((resolve, reject) => {
                started.push(input.frame.taskId);
                runs.set(input.frame.taskId, { resolve, reject, signal, sessionId: input.sessionId });
              });
        post({ taskId: input.frame.taskId, result: output.result, sessionId: input.sessionId });
        return output;
      }),
      postResult: fromPromise<void, PostResultInput>(async ({ input }) => post(input)),
    },
  });
  return { task, runs, started, posts, postedOn, failPosts: (error: unknown) => (postFails = error) };
}

export const ok: RunTaskOutput = { result: { status: 200, body: { id: 'x' } } };

/** How the task said it ended: the one `task.settled` its parent heard, without the type. */
export function settled(t: ReturnType<typeof underParent>) {
  const events = t.received('task.settled');
  expect(events).toHaveLength(1);
  const { type: _, ...end } = events[0] as Record<string, unknown>;
  return end;
}
