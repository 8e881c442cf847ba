// `llm-registrar start`: the daemon in the foreground, on the config file's providers.
import { defaultConfigPath, defaultStateDir, formatProblems, loadConfig } from '../config/load.ts';
import { startDaemon } from '../daemon.ts';
import { createLogger } from '../log.ts';
import { redactUrl } from '../redact.ts';
import { Progress } from './progress.ts';
import { shutdownSignalsFromNow } from './signals.ts';
import { publishedRows, startWatching, type WatchFlags } from './watch.ts';

export async function startCommand(options: { config?: string; stateDir?: string; logLevel?: string; watch?: WatchFlags }): Promise<number> {
  const result = await loadConfig(options.config ?? defaultConfigPath());
  if (!result.ok) {
    process.stderr.write(formatProblems(result) + '\n');
    return 1;
  }
  const signals = shutdownSignalsFromNow();
  const progress = new Progress();
  const logger = createLogger({ level: options.logLevel, prettyOutput: progress.writeLogLine });
  const stateDir = options.stateDir ?? result.config.stateDir ?? defaultStateDir();
  logger.info({ config: result.path, stateDir, hub: redactUrl(String(result.config.hub.url)) }, `starting llm-registrar on ${result.path}`);
  for (const note of result.notes) logger.info(note);
  const watch = await startWatching({
    flags: options.watch ?? {},
    status: result.config.status,
    hubUrl: result.config.hub.url,
    logger,
    progress,
    published: publishedRows(result.config),
    configPath: result.path,
    stateDir,
  });
  const daemon = await startDaemon({ config: result.config, stateDir, logger, inspect: watch.inspect, follow: watch.follow, observer: watch.observer });
  watch.started(daemon);
  signals.attach(daemon.drain);
  await daemon.stopped;
  await watch.close();
  logger.info('stopped');
  logger.flush?.();
  return 0;
}
