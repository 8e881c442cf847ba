// `llm-registrar start`: the daemon in the foreground, on the config file's providers.
import { defaultConfigPath, defaultStateDir, formatProblems, loadConfig } from '../config/load.ts';
import { startDaemon } from '../daemon.ts';
import { createLogger } from '../log.ts';
import { onShutdownSignals } from './signals.ts';

export async function startCommand(options: { config?: string; stateDir?: string; logLevel?: string }): Promise<number> {
  const result = await loadConfig(options.config ?? defaultConfigPath());
  if (!result.ok) {
    process.stderr.write(formatProblems(result) + '\n');
    return 1;
  }
  const logger = createLogger({ level: options.logLevel });
  const stateDir = options.stateDir ?? result.config.stateDir ?? defaultStateDir();
  logger.info({ config: result.path, stateDir, hub: result.config.hub.url }, 'starting llm-registrar');
  const daemon = await startDaemon({ config: result.config, stateDir, logger });
  onShutdownSignals(daemon.drain);
  await daemon.stopped;
  logger.info('stopped');
  logger.flush?.();
  return 0;
}
