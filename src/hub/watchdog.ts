// The hub's watchdog: a session not heard from for watchdogMs is lost: its rows show `inactive` and the calls
// waiting on it fail now (503) instead of at their timeout. A heartbeat or a register brings it back.
import type { Logger } from 'pino';
import type { Registry } from './registry.ts';
import type { TaskTable } from './tasks.ts';

export function startWatchdog(options: { registry: Registry; tasks: TaskTable; watchdogMs: number; logger: Logger; now: () => number }): () => void {
  const { registry, tasks, watchdogMs, logger, now } = options;
  const periodMs = Math.max(10, Math.min(Math.floor(watchdogMs / 3), 1000));
  const timer = setInterval(() => {
    for (const session of registry.collectLost(now())) {
      const failed = tasks.failSession(session.id, `the registrar publishing this model stopped answering (no heartbeat for ${watchdogMs} ms)`);
      logger.warn({ session: session.id, user: session.user, llms: registry.rowNamesOf(session.id), failedTasks: failed }, `session lost: no heartbeat for ${watchdogMs} ms, its rows are inactive`);
    }
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
