// A token revoked while the hub runs (a reloaded tokens file) takes the registrar sessions it opened with it, at once:
// their rows go inactive as after a leave, what waits on them fails, their task streams end. The registrar's next
// request with that token gets 401, like any caller's; restoring the token and a heartbeat bring the session back.
import type { Logger } from 'pino';
import { shortId } from './session-ids.ts';
import type { HubState } from './state/index.ts';

export function cutRevokedSessions(options: { state: HubState; logger: Logger }): (digests: ReadonlySet<string>) => void {
  const { state, logger } = options;
  const { registry, tasks } = state;
  return (digests) => {
    for (const session of registry.sessionsWithToken(digests)) {
      const llms = registry.rowNamesOf(session.id);
      void state.leave(session.user, session.id).then(
        (left) => {
          if (left !== true && left !== false) logger.warn({ session: shortId(session.id) }, `a revoked token's session could not be marked inactive in the store: ${left.message}`);
        },
        (error: Error) => logger.warn({ session: shortId(session.id) }, `a revoked token's session could not be marked inactive: ${error.message}`),
      );
      const message = 'the token of the registrar publishing this model was revoked';
      // Ends its stream and fails what waits on it; then every new task fails at once, as after a leave.
      tasks.forgetSession(session.id, message);
      tasks.sessionLeft(session.id, message);
      logger.warn({ session: shortId(session.id), user: session.user, llms }, 'session cut: the token it registered with was revoked, its rows are inactive');
    }
  };
}
