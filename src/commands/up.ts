// `llm-registrar up` (what `npm start` runs): a hub and a registrar on this machine, publishing the best local
// model server it finds or the built-in demo model, then the curl to try it.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultStateDir, parseConfig } from '../config/load.ts';
import type { ProviderConfig } from '../config/schema.ts';
import { startDaemon } from '../daemon.ts';
import { detectLocalServers } from '../detect.ts';
import { startHub, type Hub } from '../hub/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { Progress } from './progress.ts';
import { onShutdownSignals, parsePort } from './signals.ts';
import { publishedRows, startWatching, type WatchFlags } from './watch.ts';

export interface UpOptions {
  port?: string;
  host?: string;
  stateDir?: string;
  logLevel?: string;
  watch?: WatchFlags;
}

async function chooseProvider(logger: Logger): Promise<ProviderConfig> {
  const servers = await detectLocalServers();
  const best = servers[0];
  if (!best) {
    logger.info('no local model server found on the usual ports: publishing the built-in demo model');
    return { name: 'demo', type: 'demo', model: 'demo', publish: true, visibility: 'private', maxConcurrency: 4 };
  }
  const model = best.models[0];
  logger.info({ server: best.kind, baseUrl: best.baseUrl, model }, `found ${best.kind}: publishing ${model}`);
  return { name: model.replace(/[^A-Za-z0-9._:\-/]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'local', type: best.type, baseUrl: best.baseUrl, model, publish: true, visibility: 'private', maxConcurrency: 4 };
}

async function listen(host: string, port: number, token: string, logger: Logger): Promise<Hub> {
  try {
    return await startHub({ host, port, tokens: { [token]: { user: 'you', admin: true } }, logger: logger.child({ component: 'hub' }) });
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

function tryIt(hub: Hub, token: string, model: string, statusUrl?: string): string {
  const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'Say hello in five words.' }] });
  return `
llm-registrar is up: hub ${hub.url}, publishing '${model}'. Try it:

  curl -N ${hub.url}/v1/chat/completions \\
    -H 'Authorization: Bearer ${token}' \\
    -H 'Content-Type: application/json' \\
    -d '${body}'

(drop "stream": true for one JSON answer; GET ${hub.url}/v1/models lists what you can call; Ctrl-C stops)
${statusUrl ? `\nWatch it live: ${statusUrl}/ (or \`llm-registrar status --status-url ${statusUrl}\`)\n` : ''}`;
}

export async function upCommand(options: UpOptions): Promise<number> {
  const progress = new Progress();
  const logger = createLogger({ level: options.logLevel, prettyOutput: progress.writeLogLine });
  const host = options.host ?? '127.0.0.1';
  const port = parsePort(options.port, 4848);
  const token = process.env.LLM_REGISTRAR_HUB_TOKEN ?? `llmr_${randomBytes(18).toString('base64url')}`;

  const hub = await listen(host, port, token, logger);
  const provider = await chooseProvider(logger);
  const parsed = parseConfig({ hub: { url: hub.url, token }, providers: [provider] }, {});
  if (!parsed.ok) throw new Error(`internal config for up is invalid: ${parsed.problems.join('; ')}`);
  const stateDir = options.stateDir ?? join(defaultStateDir(), 'up');
  const registrarLogger = logger.child({ component: 'registrar' });
  const watch = await startWatching({ flags: options.watch ?? {}, status: parsed.config.status, hubUrl: hub.url, logger: registrarLogger, progress, published: publishedRows(parsed.config) });
  const daemon = await startDaemon({ config: parsed.config, stateDir, logger: registrarLogger, inspect: watch.inspect, observer: watch.observer });
  watch.started(daemon);
  onShutdownSignals(daemon.drain);

  await waitUntilServing(hub, token, provider.name, logger);
  progress.writeLogLine(tryIt(hub, token, provider.name, watch.statusUrl));

  await daemon.stopped;
  await watch.close();
  await hub.close();
  logger.info('stopped');
  return 0;
}
