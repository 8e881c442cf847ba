// `llm-registrar hub`: the reference coordinator, in the foreground.
import { loadTokensFile, startHub, type HubUser } from '../hub/index.ts';
import { createLogger } from '../log.ts';
import { onShutdownSignals, parseMs, parsePort } from './signals.ts';

export async function hubCommand(values: Record<string, string | undefined>, corsOrigins: readonly string[] = []): Promise<number> {
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
    streamGraceMs: parseMs(values['stream-grace-ms'], '--stream-grace-ms'),
    corsOrigins,
    logger,
  });
  logger.info({ url: hub.url, users: new Set(Object.values(tokens).map((t) => t.user)).size }, 'hub listening');
  await new Promise<void>((resolve) => onShutdownSignals(resolve));
  await hub.close();
  logger.info('hub stopped');
  return 0;
}
