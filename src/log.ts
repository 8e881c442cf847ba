// Structured logs (pino): pretty on a terminal, JSON lines otherwise; secrets are redacted wherever they hide.
import pino, { type Logger } from 'pino';
import pretty, { prettyFactory } from 'pino-pretty';

export type { Logger };

const REDACT = [
  'token',
  'apiKey',
  'authorization',
  '*.token',
  '*.apiKey',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'hub.token',
  'config.hub.token',
];

export interface LoggerOptions {
  level?: string;
  pretty?: boolean;
  name?: string;
  /** Where pretty lines go instead of stdout (a progress spinner clears its line around them); synchronous. */
  prettyOutput?: (text: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const wantPretty = options.pretty ?? process.stdout.isTTY === true;
  const settings = { name: options.name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  const prettyOptions = { colorize: !process.env.NO_COLOR, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' };
  if (wantPretty && options.prettyOutput) {
    const format = prettyFactory(prettyOptions);
    const output = options.prettyOutput;
    return pino(settings, { write: (line: string) => output(format(line)) });
  }
  // In-thread and synchronous, so the last lines before an exit are never lost.
  return wantPretty ? pino(settings, pretty({ ...prettyOptions, sync: true })) : pino(settings, pino.destination({ sync: true }));
}

/** A logger that writes nothing: for tests and benchmarks that look at behaviour, not at log lines. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
