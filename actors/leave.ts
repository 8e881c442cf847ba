// A draining registrar's goodbye (SPEC.md §6): once its last result is posted, its rows go inactive on the hub at
// once instead of after the watchdog. Never fails: a base hub's 404, an error or the deadline only get a log line.
import { fromPromise } from 'xstate';
import type { LeaveInput } from '../machines/session.ts';
import type { ActorDeps } from './deps.ts';

export function leaveActor(deps: Pick<ActorDeps, 'hub' | 'timing' | 'logger'>) {
  return fromPromise<void, LeaveInput>(async ({ input, signal }) => {
    try {
      const status = await deps.hub.leave(input.sessionId, deps.timing.leaveMs, signal);
      if (status === 200) deps.logger.info('took leave of the hub: its rows are inactive now');
      else if (status === 404) deps.logger.info('the hub does not know _provider-leave (a base hub): its rows go inactive after its watchdog');
      else deps.logger.warn({ status }, 'the hub did not take our leave: its rows go inactive after its watchdog');
    } catch (error) {
      deps.logger.warn({ err: (error as Error).message }, 'could not take leave of the hub: its rows go inactive after its watchdog');
    }
  });
}
