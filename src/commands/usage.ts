// Mistakes in how a command was called (exit code 2), and the checks of option values every command shares.
import { didYouMean } from '../did-you-mean.ts';

/** A command called wrongly: the CLI prints the message and a pointer to `--help`, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `--log-level` (or LOG_LEVEL): one of pino's levels, else a usage error that lists them. */
export function parseLogLevel(text: string | undefined, source = '--log-level'): string | undefined {
  if (text === undefined || (LOG_LEVELS as readonly string[]).includes(text)) return text;
  throw new UsageError(`${source} must be one of ${LOG_LEVELS.join(', ')}, not '${text}'${didYouMean(text, LOG_LEVELS, "'")}`);
}
