// Post a task's final result (SPEC.md §4); HubClient retries it with backoff until the result deadline.
import { fromPromise } from 'xstate';
import type { PostResultInput } from '../machines/task.ts';
import { TaskGoneError } from '../src/hub-client.ts';
import { TASK_ERROR, type TaskFailure } from '../src/protocol/errors.ts';
import type { ActorDeps } from './deps.ts';

export function postResultActor(deps: Pick<ActorDeps, 'hub' | 'logger'>) {
  return fromPromise<void, PostResultInput>(async ({ input, signal }) => {
    try {
      await deps.hub.postResult(input.taskId, input.result, { sessionId: input.sessionId, signal });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof TaskGoneError) throw { code: TASK_ERROR.gone, message, nothingSent: false } satisfies TaskFailure;
      if (!signal.aborted) deps.logger.error({ taskId: input.taskId, err: message }, 'task result lost');
      // The result may have reached the hub before its answer was lost: never "nothing sent".
      throw { code: TASK_ERROR.hubFailed, message, nothingSent: false } satisfies TaskFailure;
    }
  });
}
