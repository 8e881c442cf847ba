// The hub: the reference coordinator of SPEC.md ("The hub"). By default its state is in memory but for the session key
// in its state dir: a restart loses the rows, and the registrars re-register with their sticky session ids, which still
// verify. Given a store and a bus, it is one of N replicas sharing PostgreSQL and Redis (src/hub/state/replicated.ts).
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import type { Logger } from 'pino';
import { hostUrl } from '../host-url.ts';
import { limits, paths } from '../protocol/index.ts';
import { silentLogger } from '../log.ts';
import { installAuth, TokenTable, type HubUser } from './auth.ts';
import { catalogRoutes } from './catalog-routes.ts';
import { wallClock, type HubClock } from './clock.ts';
import { installCors } from './cors.ts';
import { Dispatcher } from './dispatch.ts';
import { hubError } from './error-codes.ts';
import { frameworkErrors, installErrorHandlers, replyError } from './errors.ts';
import { homeRoutes } from './home-routes.ts';
import { anthropicRoutes } from './front/anthropic.ts';
import { dispatchCaller } from './front/dispatch-caller.ts';
import { openAiRoutes } from './front/openai.ts';
import { responsesRoutes } from './front/responses.ts';
import { providerRoutes } from './provider-routes.ts';
import { Registry } from './registry.ts';
import { resultStreamRoute } from './result-stream-route.ts';
import { loadSessionKey, SessionIds } from './session-ids.ts';
import type { HubState } from './state/index.ts';
import { memoryState } from './state/memory.ts';
import { openReplicatedState } from './state/replicated.ts';
import { TaskTable } from './tasks.ts';
import { cutRevokedSessions } from './tokens-revoke.ts';
import { HubMetrics } from './metrics.ts';
import { MemoryUsageLedger, type UsageLedger } from './usage.ts';
import { usageRoutes } from './usage-routes.ts';
import { startWatchdog } from './watchdog.ts';

export { TokenTable, type HubUser } from './auth.ts';
export { loadTokensFile } from './tokens.ts';
export { MemoryUsageLedger, type UsageEntry, type UsageLedger, type UsageSummary } from './usage.ts';

/** How long answers already written get to leave before close() cuts the connections still open. */
const CLOSE_GRACE_MS = 200;

export interface HubOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 4848; 0 picks a free port. */
  port?: number;
  /** Bearer token → user; a TokenTable when its owner replaces the tokens while the hub runs (a reloaded file). */
  tokens: Record<string, HubUser> | TokenTable;
  /** PEM certificate and key: the hub serves HTTPS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Default 90 000: no heartbeat that long → the session's rows become `inactive`. */
  watchdogMs?: number;
  /** Default 15 000: SSE comment on provider streams and on streaming callers. */
  keepAliveMs?: number;
  /** Default 300 000: a call older than this → 504. */
  taskTimeoutMs?: number;
  /** Default 120 000: a wake not answered that long → the calls waiting on it get 504. */
  wakeTimeoutMs?: number;
  /**
   * Where the key that session ids are signed with is kept (`session-key`, 0600, made on first start; the dir
   * 0700). Same dir → same key → the registrars' ids survive a restart. The `hub` command passes
   * `$XDG_STATE_HOME/llm-registrar-hub` by default; without a dir the key lives in memory, for this process alone.
   */
  stateDir?: string;
  /** Default 86 400 000 (24 h): a session not heard from that long is deleted with its rows. */
  retentionMs?: number;
  /** Default 256: LLM rows plus agents one register may publish (more → 400). */
  maxRowsPerSession?: number;
  /**
   * Default 1 024: sessions one user may hold (a team may share one token across its workstations). A register for
   * a new session beyond it deletes that user's session heard from least recently among those past the watchdog, or
   * is refused (429) when all are live.
   */
  maxSessionsPerUser?: number;
  /** Default 8 MiB (8 388 608 bytes): text a non-streaming call buffers from chunks; more → the call gets 502. */
  maxResultBytes?: number;
  /** Default 30 000: a request whose headers and body have not all arrived in that many ms is cut (slow senders). */
  requestTimeoutMs?: number;
  /** Default 4 096: open connections the hub accepts at once; beyond, new ones are closed on arrival. */
  maxConnections?: number;
  /** Default 10 000: a session without an open task stream that long → the calls waiting on it get 503 (SPEC.md §6). */
  streamGraceMs?: number;
  /**
   * Replicas (SPEC.md "The hub beyond one machine"): the PostgreSQL store of record (postgres://…) and the Redis bus
   * (redis://…), both or neither. The session key is then the store's, and `stateDir` is not used.
   */
  store?: string;
  bus?: string;
  /** Browser origins whose pages may call the hub (CORS); default none. */
  corsOrigins?: readonly string[];
  /** Where finished calls are kept for GET /api/v1/usage; default a MemoryUsageLedger (100 000 calls, 48 h). */
  usage?: UsageLedger;
  /** Default silent. */
  logger?: Logger;
  /** Default wall time: what the watchdog, retention, the stream grace and call deadlines read and wait on. */
  clock?: HubClock;
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
  const clock = options.clock ?? wallClock;
  const { now } = clock;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;

  const state = await openState(options, logger, watchdogMs, clock);
  const { registry, tasks } = state;
  const usage = options.usage ?? state.usage ?? new MemoryUsageLedger({ now });
  // The gauges read the dispatcher, made just below; they are read only when /metrics is scraped.
  const metrics = new HubMetrics({ streams: () => tasks.streamCount, callers: () => dispatcher.callCount });
  const dispatcher = new Dispatcher({
    registry,
    tasks,
    taskTimeoutMs: options.taskTimeoutMs ?? 300_000,
    wakeTimeoutMs: options.wakeTimeoutMs ?? 120_000,
    logger,
    clock,
    onCallFinished: (entry) => {
      usage.record(entry);
      metrics.observe(entry);
    },
  });
  const keepAliveMs = options.keepAliveMs ?? 15_000;

  // No automatic HEAD twins: a HEAD on the stream route would open (and take over) a session's task stream.
  const app = Fastify({
    bodyLimit: limits.maxBodyBytes,
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 256 },
    frameworkErrors,
    ...(options.tls ? { https: options.tls } : {}),
    requestTimeout: requestTimeoutMs,
    // Node checks the deadline every 30 s by default, long after a short one has passed.
    http: { connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(requestTimeoutMs / 4))), headersTimeout: Math.min(60_000, requestTimeoutMs) },
  });
  app.server.maxConnections = options.maxConnections ?? 4096;
  installErrorHandlers(app, logger);
  // Before auth: a browser's preflight carries no token.
  installCors(app, options.corsOrigins ?? []);
  const tokens = options.tokens instanceof TokenTable ? options.tokens : new TokenTable(options.tokens);
  installAuth(app, tokens);
  const stopCutting = tokens.onRevoked(cutRevokedSessions({ state, logger }));
  app.get('/healthz', async () => ({ ok: true }));
  const unavailable = state.unavailable.bind(state);
  // Across replicas, while Redis is away a call or a register could only hang: refused at once, and retried.
  app.addHook('onRequest', async (request, reply) => {
    const why = request.method === 'POST' && (request.url.startsWith('/v1/') || request.url === paths.register) ? unavailable() : undefined;
    if (why !== undefined) return replyError(reply, hubError('hub_unavailable', why));
    return undefined;
  });
  providerRoutes(app, { state, keepAliveMs, logger, now });
  if (state.localTasks) resultStreamRoute(app, { registry, tasks: state.localTasks });
  openAiRoutes(app, { dispatcher, keepAliveMs });
  // Anthropic Messages and OpenAI Responses, translated onto chat.completions through the same dispatcher.
  const callChat = dispatchCaller({ dispatcher, headWaitMs: keepAliveMs });
  await anthropicRoutes(app, { callChat, sees: (viewer, model) => registry.resolve(viewer, model) !== undefined, keepAliveMs });
  await responsesRoutes(app, { callChat, keepAliveMs });
  catalogRoutes(app, { registry, now });
  usageRoutes(app, { usage, metrics, now });
  homeRoutes(app);

  await app.listen({ host, port: options.port ?? 4848 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error(`the hub listens on an unexpected address: ${String(address)}`);
  const port = address.port;
  // A hub on every interface is reached here through loopback: 0.0.0.0 is an address to listen on, not to call.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = hostUrl(reachable, port, options.tls ? 'https' : 'http');
  const stopWatchdog = startWatchdog({ state, watchdogMs, logger, clock });
  logger.debug({ url }, 'hub listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        stopWatchdog();
        stopCutting();
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
          await state.close();
        }
        logger.info({ url }, 'hub closed');
      })();
      return closing;
    },
  };
}

/** In memory (the default), or shared by replicas through PostgreSQL and Redis. */
async function openState(options: HubOptions, logger: Logger, watchdogMs: number, clock: HubClock): Promise<HubState> {
  const registryOptions = {
    watchdogMs,
    retentionMs: options.retentionMs ?? 86_400_000,
    maxRowsPerSession: options.maxRowsPerSession ?? 256,
    maxSessionsPerUser: options.maxSessionsPerUser ?? 1024,
  };
  const maxResultBytes = options.maxResultBytes ?? 8 * 1024 * 1024;
  const streamGraceMs = options.streamGraceMs ?? 10_000;
  if ((options.store === undefined) !== (options.bus === undefined)) {
    throw new Error('replicas need both a store (--store postgres://…) and a bus (--bus redis://…), or neither');
  }
  if (options.store !== undefined && options.bus !== undefined) {
    return openReplicatedState({ store: options.store, bus: options.bus, registry: registryOptions, maxResultBytes, streamGraceMs, logger, clock });
  }
  const stateDir = options.stateDir;
  const sessionKey = stateDir === undefined ? { key: randomBytes(32), created: true, loosened: false } : await loadSessionKey(stateDir);
  if (stateDir !== undefined && sessionKey.created) logger.info({ stateDir }, 'new session key: registrars with ids from another key register afresh');
  if (sessionKey.loosened) logger.warn({ stateDir }, 'the session key was readable by others: made it 0600 (anyone who read it could forge session ids)');
  const registry = new Registry({ ...registryOptions, ids: new SessionIds(sessionKey.key) });
  return memoryState(registry, new TaskTable({ maxResultBytes, streamGraceMs, clock }));
}
