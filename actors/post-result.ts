// Post a task's final result (SPEC.md §4); HubClient retries it with backoff until the result deadline.
import { fromPromise } from 'xstate';
import type { PostResultInput } from '../machines/task.ts';
import { TaskGoneError } from '../src/hub-client.ts';
import type { ActorDeps } from './deps.ts';

export function postResultActor(deps: Pick<ActorDeps, 'hub' | 'logger'>) {
  return fromPromise<void, PostResultInput>(async ({ input, signal }) => {
    try {
      await deps.hub.postResult(input.taskId, input.result, signal);
    } catch (error) {
      if (!(error instanceof TaskGoneError) && !signal.aborted) {
        deps.logger.error({ taskId: input.taskId, err: (error as Error).message }, 'task result lost');
      }
      throw error;
    }
  });
}
