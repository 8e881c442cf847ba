// Structured logs (pino): pretty on a terminal, JSON lines otherwise; secrets are redacted wherever they hide.
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

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

export function createLogger(options: { level?: string; pretty?: boolean; name?: string } = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const wantPretty = options.pretty ?? process.stdout.isTTY === true;
  const settings = { name: options.name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  // In-thread and synchronous, so the last lines before an exit are never lost.
  return wantPretty
    ? pino(settings, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }))
    : pino(settings, pino.destination({ sync: true }));
}

/** A logger that writes nothing: for tests and benchmarks that look at behaviour, not at log lines. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
