// `llm-registrar up` (what `npm start` runs): a hub and a registrar on this machine, publishing every model of every
// local model server it finds (each with `model: "*"`, so rows follow models pulled and removed) or the built-in demo
// model, then the curl to try one of them and the list of all.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultStateDir, parseConfig } from '../config/load.ts';
import { EVERY_MODEL, type ProviderConfig } from '../config/schema.ts';
import { startDaemon } from '../daemon.ts';
import { detectLocalServers, waitUntilLoaded, type DetectedServer } from '../detect.ts';
import { startHub, type Hub } from '../hub/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { Progress } from './progress.ts';
import { shutdownSignalsFromNow, parsePort } from './signals.ts';
import { publishedRows, startWatching, type WatchFlags } from './watch.ts';
import { publishedNames } from '../../machines/selectors.ts';

export interface UpOptions {
  port?: string;
  host?: string;
  stateDir?: string;
  logLevel?: string;
  watch?: WatchFlags;
}

/** How long `up` waits for a server that is loading its model before it publishes it anyway (its models follow). */
const LOADING_WAIT_MS = 60_000;

/** A server still loading is waited for, with a line a second saying so; past the bound it is published as it is. */
async function loaded(server: DetectedServer, logger: Logger, progress: Progress): Promise<DetectedServer> {
  if (!server.loading) return server;
  const ready = await waitUntilLoaded(server, {
    timeoutMs: LOADING_WAIT_MS,
    onWait: (ms) => progress.writeLogLine(`${server.kind} at ${server.baseUrl} is loading its model… ${Math.round(ms / 1000)} s (waiting up to ${LOADING_WAIT_MS / 1000} s)`),
  });
  if (ready.loading) logger.warn(`${server.kind} at ${server.baseUrl} is still loading: publishing it anyway, its models appear once it lists them`);
  return ready;
}

/** One provider per server, each publishing every model it lists; the demo model when nothing answers. */
async function chooseProviders(logger: Logger, progress: Progress): Promise<ProviderConfig[]> {
  const servers = await Promise.all((await detectLocalServers()).map((server) => loaded(server, logger, progress)));
  if (servers.length === 0) {
    logger.info('no local model server found on the usual ports: publishing the built-in demo model');
    return [{ name: 'demo', type: 'demo', model: 'demo', publish: true, visibility: 'private', maxConcurrency: 4 }];
  }
  const taken = new Set<string>();
  return servers.map((server) => {
    let name: string = server.kind;
    for (let n = 2; taken.has(name); n++) name = `${server.kind}-${n}`;
    taken.add(name);
    logger.info({ server: server.kind, baseUrl: server.baseUrl, models: server.models }, `found ${server.kind}: publishing its ${server.models.length} model${server.models.length === 1 ? '' : 's'}`);
    return { name, type: server.type, baseUrl: server.baseUrl, model: EVERY_MODEL, publish: true, visibility: 'private', maxConcurrency: 4 };
  });
}

async function listen(host: string, port: number, token: string, stateDir: string, logger: Logger): Promise<Hub> {
  try {
    return await startHub({ host, port, tokens: { [token]: { user: 'you', admin: true } }, stateDir, logger: logger.child({ component: 'hub' }) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`port ${port} on ${host} is in use (another \`up\` or hub?): stop it, or pick other ports: llm-registrar up --port N --status-port M (through npm: npm start -- --port N --status-port M)`);
    }
    throw error;
  }
}

/** Waits until the hub lists the published row as active, so the printed curl works at once. */
async function waitUntilServing(hub: Hub, token: string, name: string, logger: Logger): Promise<void> {
  const deadline = Date.now() + 30_000;
  let said = false;
  while (Date.now() < deadline) {
    const response = await fetch(`${hub.url}/api/v1/llms/${encodeURIComponent(name)}`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
    const row = response?.ok ? ((await response.json()) as { status?: string }) : undefined;
    if (row?.status === 'active') return;
    if (!said && Date.now() > deadline - 27_000) {
      logger.info(`waiting for '${name}' to come up on the hub…`);
      said = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  logger.warn(`'${name}' is not active on the hub after 30 s: the curl below may fail until it is`);
}

function tryIt(hub: Hub, token: string, names: string[], statusUrl?: string): string {
  const model = names[0];
  const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'Say hello in five words.' }] });
  const all = names.length === 1 ? `'${model}'` : `${names.length} models: ${names.map((name) => `'${name}'`).join(', ')}`;
  return `
llm-registrar is up: hub ${hub.url}, publishing ${all}. Try ${names.length === 1 ? 'it' : `'${model}'`}:

  curl -N ${hub.url}/v1/chat/completions \\
    -H 'Authorization: Bearer ${token}' \\
    -H 'Content-Type: application/json' \\
    -d '${body}'

(drop "stream": true for one JSON answer; GET ${hub.url}/v1/models lists what you can call; Ctrl-C stops)
${statusUrl ? `\nWatch it live: ${statusUrl}/ (or \`llm-registrar status --status-url ${statusUrl}\`)\n` : ''}`;
}

export async function upCommand(options: UpOptions): Promise<number> {
  const signals = shutdownSignalsFromNow();
  const progress = new Progress();
  const logger = createLogger({ level: options.logLevel, prettyOutput: progress.writeLogLine });
  const host = options.host ?? '127.0.0.1';
  const port = parsePort(options.port, 4848);
  const token = process.env.LLM_REGISTRAR_HUB_TOKEN ?? `llmr_${randomBytes(18).toString('base64url')}`;

  const stateDir = options.stateDir ?? join(defaultStateDir(), 'up');
  // The hub's session key beside the registrar's state: the next `up` verifies the session id this one issued.
  const hub = await listen(host, port, token, join(stateDir, 'hub'), logger);
  const providers = await chooseProviders(logger, progress);
  const parsed = parseConfig({ hub: { url: hub.url, token }, providers }, {});
  if (!parsed.ok) throw new Error(`internal config for up is invalid: ${parsed.problems.join('; ')}`);
  const registrarLogger = logger.child({ component: 'registrar' });
  const watch = await startWatching({ flags: options.watch ?? {}, status: parsed.config.status, hubUrl: hub.url, logger: registrarLogger, progress, published: publishedRows(parsed.config), stateDir });
  const daemon = await startDaemon({ config: parsed.config, stateDir, logger: registrarLogger, inspect: watch.inspect, follow: watch.follow, observer: watch.observer });
  watch.started(daemon);
  signals.attach(daemon.drain);

  // The daemon listed every server's models before it started: these are the names it publishes.
  const names = daemon.actor ? publishedNames(daemon.actor.getSnapshot()) : [];
  if (names.length > 0) {
    await waitUntilServing(hub, token, names[0], logger);
    progress.writeLogLine(tryIt(hub, token, names, watch.statusUrl));
  } else {
    logger.warn('no model is listed yet: the curl to try one is printed once the hub lists it (GET /v1/models)');
  }

  await daemon.stopped;
  await watch.close();
  await hub.close();
  logger.info('stopped');
  return 0;
}
