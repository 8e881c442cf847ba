// SIGTERM / SIGINT: the first asks for a drain, a second one forces (SPEC.md, "drain on SIGTERM/SIGINT"); and the
// checks of the port and duration flags, whose mistakes are usage errors (exit 2).
import { UsageError } from './usage.ts';

/**
 * Takes the signals from the start, before there is anything to drain: one that comes while the daemon starts is
 * kept and handed to it once it runs (else Node's default action would kill the process mid-start).
 */
export function shutdownSignalsFromNow(): { attach(drain: () => void): void } {
  let received = 0;
  let target: (() => void) | undefined;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      received += 1;
      target?.();
    });
  }
  return {
    attach(drain) {
      target = drain;
      for (let i = 0; i < received; i += 1) drain();
    },
  };
}

export function parsePort(text: string | undefined, fallback: number, what = '--port'): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${what} must be a port number from 0 to 65535, not '${text}'`);
  return port;
}

export function parseMs(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`${what} must be a positive number of milliseconds, not '${text}'`);
  return ms;
}
