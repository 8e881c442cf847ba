// The options of the commands that run a daemon (`start`, `up`): the status server and the Stately inspector.
import { DEFAULT_INSPECT_PORT } from '../../inspect/stately.ts';
import { DEFAULT_STATUS_PORT } from '../../inspect/status-server.ts';

export interface WatchFlags {
  statusPort?: string;
  noStatus?: boolean;
  inspect?: boolean;
  inspectPort?: string;
}

/** The command-line options every daemon command takes, with their help text. */
export const watchOptions = {
  'status-port': { type: 'string' },
  'no-status': { type: 'boolean' },
  inspect: { type: 'boolean' },
  'inspect-port': { type: 'string' },
} as const;

export const watchHelp = `--status-port N   the status server's port on 127.0.0.1 (default ${DEFAULT_STATUS_PORT}; 0 picks a free one):
                  / live page, /status JSON, /events SSE, /metrics Prometheus
--no-status       no status server
--inspect         show every actor live in the Stately inspector: prints a page on 127.0.0.1 to open
--inspect-port N  that page's port (default ${DEFAULT_INSPECT_PORT}; 0 picks a free one)`;

export function watchFlagsOf(values: Record<string, string | boolean | undefined>): WatchFlags {
  return {
    statusPort: values['status-port'] as string | undefined,
    noStatus: values['no-status'] === true,
    inspect: values.inspect === true,
    inspectPort: values['inspect-port'] as string | undefined,
  };
}
