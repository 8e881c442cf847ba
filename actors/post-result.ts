// Post a task's final result (SPEC.md §4); HubClient retries it with backoff until the result deadline.
import { fromPromise } from 'xstate';
import type { PostResultInput } from '../machines/task.ts';
import { TaskGoneError } from '../src/hub-client.ts';
import { TASK_ERROR, type TaskFailure } from '../src/protocol/errors.ts';
import type { ActorDeps } from './deps.ts';

/**
 * Posts a task's final result: the one way a final result leaves, for the run (what it produced) and for the task
 * machine's report (what went wrong). Fails with the TaskFailure the task machine reads.
 */
export async function deliverResult(deps: Pick<ActorDeps, 'hub' | 'logger'>, input: PostResultInput, signal: AbortSignal): Promise<void> {
  try {
    await deps.hub.postResult(input.taskId, input.result, { sessionId: input.sessionId, signal });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof TaskGoneError) throw { code: TASK_ERROR.gone, message, nothingSent: false } satisfies TaskFailure;
    if (!signal.aborted) deps.logger.error({ taskId: input.taskId, err: message }, 'task result lost');
    // The result may have reached the hub before its answer was lost: never "nothing sent".
    throw { code: TASK_ERROR.hubFailed, message, nothingSent: false } satisfies TaskFailure;
  }
}

/** The task machine's report: the error it decided on (a failed run, a refusal without running, a shutdown). */
export function postResultActor(deps: Pick<ActorDeps, 'hub' | 'logger'>) {
  return fromPromise<void, PostResultInput>(({ input, signal }) => deliverResult(deps, input, signal));
}
