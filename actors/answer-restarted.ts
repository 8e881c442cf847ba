// Answer `registrar restarted` for every task that was in flight when the registrar last stopped (SPEC.md, "Behaviour
// in time"), so their callers fail fast: a bounded number of result POSTs at a time, all within one result deadline.
import { setMaxListeners } from 'node:events';
import { fromPromise } from 'xstate';
import type { AnswerRestartedInput } from '../machines/supervisor.ts';
import { TaskGoneError } from '../src/hub-client.ts';
import type { ActorDeps } from './deps.ts';

/** Result POSTs in flight at once: the hub client's socket pool, kept busy without queueing thousands of requests. */
export const RESTARTED_POSTS_AT_ONCE = 32;
const RESTARTED = { error: 'registrar restarted' } as const;

export function answerRestartedActor(deps: Pick<ActorDeps, 'hub' | 'timing' | 'logger'>) {
  return fromPromise<void, AnswerRestartedInput>(async ({ input, signal }) => {
    const { tasks } = input;
    if (tasks.length === 0) return;
    const started = performance.now();
    // One deadline for them all: their callers are long gone, and a hub that is down must not hold 20,000 of them
    // for a deadline each.
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(deps.timing.resultDeadlineMs)]);
    // Each POST in flight listens to it (its request and its retry sleep).
    setMaxListeners(2 * RESTARTED_POSTS_AT_ONCE + 10, deadline);
    let next = 0;
    let taken = 0;
    let gone = 0;
    let lastError: string | undefined;
    const worker = async () => {
      while (next < tasks.length && !deadline.aborted) {
        const { taskId } = tasks[next++];
        try {
          await deps.hub.postResult(taskId, RESTARTED, deadline);
          taken++;
        } catch (error) {
          if (error instanceof TaskGoneError) gone++;
          else if (!deadline.aborted) lastError = (error as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESTARTED_POSTS_AT_ONCE, tasks.length) }, worker));
    if (signal.aborted) return;
    const ms = Math.round(performance.now() - started);
    const lost = tasks.length - taken - gone;
    const fields = { tasks: tasks.length, taken, gone, lost, ms };
    if (lost === 0) deps.logger.info(fields, `answered the ${tasks.length} tasks in flight at the last stop (registrar restarted) in ${ms} ms`);
    else {
      const why = lastError ?? `the hub did not take them within ${deps.timing.resultDeadlineMs} ms`;
      deps.logger.error({ ...fields, err: why }, `${lost} of the ${tasks.length} tasks in flight at the last stop were not answered: ${why}`);
    }
  });
}
