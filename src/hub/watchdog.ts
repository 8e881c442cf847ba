// The hub's watchdog: a session not heard from for watchdogMs is lost: its rows show `inactive` and the calls
// waiting on it fail now (503) instead of at their timeout; a heartbeat or a register brings it back. A session not
// heard from for retentionMs is deleted with its rows, so nothing a registrar leaves behind is kept for ever.
import type { Logger } from 'pino';
import type { HubClock } from './clock.ts';
import { shortId } from './session-ids.ts';
import type { HubState } from './state/index.ts';

export function startWatchdog(options: { state: HubState; watchdogMs: number; logger: Logger; clock: HubClock }): () => void {
  const { state, watchdogMs, logger, clock } = options;
  const { registry, tasks } = state;
  const periodMs = Math.max(10, Math.min(Math.floor(watchdogMs / 3), 1000));
  let collecting = false;
  return clock.every(periodMs, () => {
    const at = clock.now();
    for (const session of registry.collectLost(at)) {
      const failed = tasks.failSession(session.id, `the registrar publishing this model stopped answering (no heartbeat for ${watchdogMs} ms)`);
      logger.warn({ session: shortId(session.id), user: session.user, llms: registry.rowNamesOf(session.id), failedTasks: failed }, `session lost: no heartbeat for ${watchdogMs} ms, its rows are inactive`);
    }
    // Across replicas the delete is a store write: one at a time, never piling up behind a slow store.
    if (collecting) return;
    collecting = true;
    void state
      .collectExpired(at)
      .then((expired) => {
        for (const id of expired) tasks.forgetSession(id, 'the session was deleted after its retention time');
        if (expired.length > 0) logger.info({ sessions: expired.length, left: registry.sessionCount }, 'sessions past their retention time deleted with their rows');
      })
      .finally(() => {
        collecting = false;
      });
  });
}
