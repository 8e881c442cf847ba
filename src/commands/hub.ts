// `llm-registrar hub`: the reference coordinator, in the foreground. It says where it listens and what that means,
// takes its admin token from a file or the environment rather than `ps`, and follows its tokens file as it changes.
import { stat, readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { startHub, TokenTable } from '../hub/index.ts';
import { hostUrl } from '../host-url.ts';
import { defaultStateDir } from '../hub/session-ids.ts';
import { watchTokensFile } from '../hub/tokens-reload.ts';
import { loadTokensFile, recordsOf, type TokenRecord } from '../hub/tokens.ts';
import { createLogger, type Logger } from '../log.ts';
import { parseMs, parsePort, shutdownSignalsFromNow } from './signals.ts';
import { UsageError } from './usage.ts';

const ENV_ADMIN_TOKEN = 'LLM_REGISTRAR_HUB_ADMIN_TOKEN';
const ENV_TOKEN = 'LLM_REGISTRAR_HUB_TOKEN';
const ENV_STORE = 'LLM_REGISTRAR_HUB_STORE';
const ENV_BUS = 'LLM_REGISTRAR_HUB_BUS';

/** The replicas' PostgreSQL and Redis, from the flags or the environment: both or neither. */
function replicasOf(values: Record<string, string | undefined>): { store?: string; bus?: string } {
  const store = values.store ?? (process.env[ENV_STORE] || undefined);
  const bus = values.bus ?? (process.env[ENV_BUS] || undefined);
  if ((store === undefined) !== (bus === undefined)) {
    throw new UsageError(`replicas need both --store postgres://… (or ${ENV_STORE}) and --bus redis://… (or ${ENV_BUS}); pass both, or neither for a hub in one process`);
  }
  if (store !== undefined && !/^postgres(ql)?:\/\//.test(store)) throw new UsageError('--store: expected a postgres://… URL');
  if (bus !== undefined && !/^rediss?:\/\//.test(bus)) throw new UsageError('--bus: expected a redis://… URL');
  return store === undefined ? {} : { store, bus };
}

async function readSecretFile(path: string, what: string, logger: Logger): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`${what} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) throw new Error(`${what} ${path}: expected one token on one line`);
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) logger.warn({ file: path }, `${what} ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`);
  return token;
}

/** The admin token, from the first of --token, --token-file, LLM_REGISTRAR_HUB_ADMIN_TOKEN (and, alone, LLM_REGISTRAR_HUB_TOKEN). */
async function adminToken(values: Record<string, string | undefined>, logger: Logger): Promise<string | undefined> {
  if (values.token !== undefined && values['token-file'] !== undefined) throw new UsageError('--token and --token-file both name the admin token: pass one');
  if (values.token !== undefined) {
    logger.warn(`--token shows the admin token to every user of this machine (\`ps\`): prefer --token-file FILE or ${ENV_ADMIN_TOKEN}`);
    return values.token;
  }
  if (values['token-file'] !== undefined) return readSecretFile(values['token-file'], 'token file', logger);
  return process.env[ENV_ADMIN_TOKEN] || (values['tokens-file'] ? undefined : process.env[ENV_TOKEN] || undefined);
}

async function tlsOf(values: Record<string, string | undefined>): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  const certPath = values['tls-cert'];
  const keyPath = values['tls-key'];
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) throw new UsageError('--tls-cert and --tls-key go together: pass both (PEM files)');
  const read = (path: string, what: string) =>
    readFile(path).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`${what} ${path}: cannot read it (${error.code ?? error.message})`);
    });
  return { cert: await read(certPath, '--tls-cert'), key: await read(keyPath, '--tls-key') };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Addresses teammates can use for a hub on every interface: this machine's own, not 0.0.0.0. */
function externalAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((address) => address !== undefined && !address.internal && address.family === 'IPv4')
    .map((address) => address!.address);
}

/** One line that says who can reach the hub, at which URL, and whether tokens cross the wire in clear. */
function describeListening(host: string, port: number, tls: boolean, logger: Logger): void {
  const scheme = tls ? 'https' : 'http';
  const urlOf = (address: string) => hostUrl(address, port, scheme);
  if (isLoopback(host)) {
    logger.info({ url: urlOf(host), host, port, tls }, `hub listening on ${urlOf(host)}: loopback only, this machine alone can call it (--host 0.0.0.0 opens it to the network)`);
    return;
  }
  const everywhere = host === '0.0.0.0' || host === '::';
  const urls = everywhere ? externalAddresses().map(urlOf) : [urlOf(host)];
  const shown = urls.length > 0 ? urls.slice(0, 3).join(', ') : urlOf('127.0.0.1');
  logger.info(
    { url: urls[0] ?? urlOf('127.0.0.1'), host, port, tls },
    `hub listening on ${everywhere ? 'all interfaces' : host}, port ${port}: callers and registrars on the network use ${shown}`,
  );
  if (!tls) {
    logger.warn('the hub speaks plain HTTP: tokens and prompts cross the network in clear; put TLS in front of it (a reverse proxy), or pass --tls-cert FILE --tls-key FILE');
  }
}

function parseCount(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1) throw new Error(`${what} must be a whole number of at least 1, not '${text}'`);
  return count;
}

export async function hubCommand(values: Record<string, string | undefined>, corsOrigins: readonly string[] = []): Promise<number> {
  const logger = createLogger({ level: values['log-level'], name: 'hub' });
  const host = values.host ?? '127.0.0.1';
  const port = parsePort(values.port, 4848);
  const tls = await tlsOf(values);
  const admin = await adminToken(values, logger);
  const file = values['tokens-file'];
  const fromFile = file ? await loadTokensFile(file) : undefined;
  const fixed: TokenRecord[] = admin ? recordsOf({ [admin]: { user: 'admin', admin: true } }) : [];
  const table = new TokenTable({}, [...fixed, ...(fromFile?.records ?? [])]);
  if (table.size === 0) {
    throw new UsageError(
      file
        ? `no token: ${file} holds none yet: \`llm-registrar hub tokens add NAME --tokens-file ${file}\` makes one`
        : `no token: pass --tokens-file FILE (see \`llm-registrar hub tokens\`), --token-file FILE, or set ${ENV_ADMIN_TOKEN}`,
    );
  }
  if (fromFile && fromFile.clearText > 0) {
    logger.warn({ file }, `tokens file keeps ${fromFile.clearText} tokens in clear: \`llm-registrar hub tokens migrate --tokens-file ${file}\` stores their hashes instead`);
  }
  const replicas = replicasOf(values);
  // Watched from here on, and read once more: a change made while the hub was starting is not missed.
  const reloader = file ? watchTokensFile({ file, table, fixed, initial: fromFile?.records ?? [], logger }) : undefined;
  void reloader?.reload('started');
  // Taken from before the hub listens: a SIGTERM that comes as soon as the listening line is out (a supervisor, a test)
  // would otherwise meet Node's default action and kill the hub before its handler is installed.
  const signals = shutdownSignalsFromNow();
  const hub = await startHub({
    host,
    port,
    tokens: table,
    tls,
    watchdogMs: parseMs(values['watchdog-ms'], '--watchdog-ms'),
    keepAliveMs: parseMs(values['keepalive-ms'], '--keepalive-ms'),
    taskTimeoutMs: parseMs(values['task-timeout-ms'], '--task-timeout-ms'),
    stateDir: values['state-dir'] ?? defaultStateDir(),
    retentionMs: parseMs(values['retention-ms'], '--retention-ms'),
    maxRowsPerSession: parseCount(values['max-rows-per-session'], '--max-rows-per-session'),
    maxSessionsPerUser: parseCount(values['max-sessions-per-user'], '--max-sessions-per-user'),
    maxResultBytes: parseCount(values['max-result-bytes'], '--max-result-bytes'),
    requestTimeoutMs: parseMs(values['request-timeout-ms'], '--request-timeout-ms'),
    maxConnections: parseCount(values['max-connections'], '--max-connections'),
    streamGraceMs: parseMs(values['stream-grace-ms'], '--stream-grace-ms'),
    corsOrigins,
    ...replicas,
    logger,
  }).catch((error: NodeJS.ErrnoException) => {
    reloader?.close();
    throw error.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is in use (another hub?): stop it, or pass --port N`) : error;
  });
  describeListening(host, hub.port, tls !== undefined, logger);
  const users = new Set([...(fromFile?.records ?? []).map((record) => record.user), ...(admin ? ['admin'] : [])]).size;
  logger.info({ users, tokensFile: file ?? null }, file ? `${table.size} tokens for ${users} users, from ${file} (reloaded when it changes, or on SIGHUP)` : `1 admin token`);

  // Without a handler SIGHUP would end the hub without a word.
  process.on('SIGHUP', () => {
    if (reloader) void reloader.reload('SIGHUP');
    else logger.info('SIGHUP: no --tokens-file to reload; the hub goes on');
  });
  await new Promise<void>((resolve) => signals.attach(resolve));
  reloader?.close();
  await hub.close();
  logger.info('hub stopped');
  return 0;
}
