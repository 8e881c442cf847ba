// `llm-registrar hub`: the reference coordinator, in the foreground.
import { loadTokensFile, startHub, type HubUser } from '../hub/index.ts';
import { createLogger } from '../log.ts';
import { onShutdownSignals, parseMs, parsePort } from './signals.ts';

function parseCount(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1) throw new Error(`${what} must be a whole number of at least 1, not '${text}'`);
  return count;
}

export async function hubCommand(values: Record<string, string | undefined>): Promise<number> {
  const tokens: Record<string, HubUser> = values['tokens-file'] ? await loadTokensFile(values['tokens-file']) : {};
  const adminToken = values.token ?? (values['tokens-file'] ? undefined : process.env.LLM_REGISTRAR_HUB_TOKEN);
  if (adminToken) tokens[adminToken] = { user: 'admin', admin: true };
  if (Object.keys(tokens).length === 0) {
    process.stderr.write('llm-registrar hub: no token: pass --token T, --tokens-file FILE, or set LLM_REGISTRAR_HUB_TOKEN\n');
    return 2;
  }
  const logger = createLogger({ level: values['log-level'], name: 'hub' });
  const hub = await startHub({
    host: values.host ?? '127.0.0.1',
    port: parsePort(values.port, 4848),
    tokens,
    watchdogMs: parseMs(values['watchdog-ms'], '--watchdog-ms'),
    keepAliveMs: parseMs(values['keepalive-ms'], '--keepalive-ms'),
    taskTimeoutMs: parseMs(values['task-timeout-ms'], '--task-timeout-ms'),
    stateDir: values['state-dir'],
    retentionMs: parseMs(values['retention-ms'], '--retention-ms'),
    maxRowsPerSession: parseCount(values['max-rows-per-session'], '--max-rows-per-session'),
    maxSessionsPerUser: parseCount(values['max-sessions-per-user'], '--max-sessions-per-user'),
    maxResultBytes: parseCount(values['max-result-bytes'], '--max-result-bytes'),
    requestTimeoutMs: parseMs(values['request-timeout-ms'], '--request-timeout-ms'),
    maxConnections: parseCount(values['max-connections'], '--max-connections'),
    logger,
  });
  logger.info({ url: hub.url, users: new Set(Object.values(tokens).map((t) => t.user)).size }, 'hub listening');
  await new Promise<void>((resolve) => onShutdownSignals(resolve));
  await hub.close();
  logger.info('hub stopped');
  return 0;
}
