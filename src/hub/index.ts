// The hub: the reference coordinator of SPEC.md ("The hub"). All state is in memory; a restart loses it and the
// registrars re-register with their sticky session ids.
import Fastify from 'fastify';
import type { Logger } from 'pino';
import { limits } from '../protocol/index.ts';
import { silentLogger } from '../log.ts';
import { installAuth, TokenTable, type HubUser } from './auth.ts';
import { catalogRoutes } from './catalog-routes.ts';
import { Dispatcher } from './dispatch.ts';
import { frameworkErrors, installErrorHandlers } from './errors.ts';
import { homeRoutes } from './home-routes.ts';
import { openAiRoutes } from './openai-routes.ts';
import { providerRoutes } from './provider-routes.ts';
import { Registry } from './registry.ts';
import { resultStreamRoute } from './result-stream-route.ts';
import { TaskTable } from './tasks.ts';
import { startWatchdog } from './watchdog.ts';

export type { HubUser } from './auth.ts';
export { loadTokensFile } from './tokens.ts';

/** How long answers already written get to leave before close() cuts the connections still open. */
const CLOSE_GRACE_MS = 200;

export interface HubOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 4848; 0 picks a free port. */
  port?: number;
  /** Bearer token → user. */
  tokens: Record<string, HubUser>;
  /** Default 90 000: no heartbeat that long → the session's rows become `inactive`. */
  watchdogMs?: number;
  /** Default 15 000: SSE comment on provider streams and on streaming callers. */
  keepAliveMs?: number;
  /** Default 300 000: a call older than this → 504. */
  taskTimeoutMs?: number;
  /** Default 120 000: a wake not answered that long → the calls waiting on it get 504. */
  wakeTimeoutMs?: number;
  /** Default silent. */
  logger?: Logger;
}

export interface Hub {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const logger = options.logger ?? silentLogger();
  const host = options.host ?? '127.0.0.1';
  const watchdogMs = options.watchdogMs ?? 90_000;
  const now = (): number => Date.now();

  const registry = new Registry(watchdogMs);
  const tasks = new TaskTable();
  const dispatcher = new Dispatcher({
    registry,
    tasks,
    taskTimeoutMs: options.taskTimeoutMs ?? 300_000,
    wakeTimeoutMs: options.wakeTimeoutMs ?? 120_000,
    logger,
    now,
  });
  const keepAliveMs = options.keepAliveMs ?? 15_000;

  // No automatic HEAD twins: a HEAD on the stream route would open (and take over) a session's task stream.
  const app = Fastify({ bodyLimit: limits.maxBodyBytes, exposeHeadRoutes: false, routerOptions: { maxParamLength: 256 }, frameworkErrors });
  installErrorHandlers(app, logger);
  installAuth(app, new TokenTable(options.tokens));
  app.get('/healthz', async () => ({ ok: true }));
  providerRoutes(app, { registry, tasks, keepAliveMs, logger, now });
  resultStreamRoute(app, { registry, tasks });
  openAiRoutes(app, { dispatcher, keepAliveMs });
  catalogRoutes(app, { registry, now });
  homeRoutes(app);

  await app.listen({ host, port: options.port ?? 4848 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error(`the hub listens on an unexpected address: ${String(address)}`);
  const port = address.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const stopWatchdog = startWatchdog({ registry, tasks, watchdogMs, logger, now });
  logger.info({ url }, 'hub listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        stopWatchdog();
        // Callers get their answer and streams end first: fastify's close waits for every open connection.
        dispatcher.close('the hub is shutting down');
        tasks.close('the hub is shutting down');
        await new Promise((resolve) => setImmediate(resolve));
        // Node counts a connection that has not sent a request yet (a client's spare one) as busy, and close()
        // would wait for it until its headers timeout: what is still open after a short grace is cut.
        const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(cut);
        }
        logger.info({ url }, 'hub closed');
      })();
      return closing;
    },
  };
}
