// `llm-registrar pause [NAME…] [--for 2h]` and `resume [NAME…]`: tell the running daemon, through its status server,
// to stop or go on sharing providers (no names: all). The write needs the run's status token, read from its 0600 file.
import { lstat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { readStatusToken, STATUS_TOKEN_FILE } from '../../inspect/status-token.ts';
import type { StatusReport } from '../../inspect/views.ts';
import { DEFAULT_STATUS_URL } from './status.ts';
import { UsageError } from './usage.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `2h`, `1d`, `1h30m` → ms; a usage error for anything else. */
export function parseFor(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|min|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) {
    throw new UsageError(`--for takes a duration such as 90s, 15m, 2h or 1h30m, not '${text}'`);
  }
  const ms = Math.round(parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * UNITS[unit!]!, 0));
  if (ms <= 0) throw new UsageError(`--for must be longer than 0, not '${text}'`);
  return ms;
}

function clockTime(iso: string): string {
  return new Date(iso).toLocaleString([], { hour12: false, weekday: 'short', hour: '2-digit', minute: '2-digit' });
}

/**
 * The daemon's status token: from --state-dir, else the file its /status names, read only if it looks like ours
 * (our name, a regular file of this user with mode 0600): a stranger answering on the port must not make us read
 * and send another file.
 */
async function tokenFor(base: string, stateDir: string | undefined): Promise<string | undefined> {
  if (stateDir !== undefined) return readStatusToken(stateDir);
  const report = (await (await fetch(`${base}/status`, { signal: AbortSignal.timeout(3_000) })).json()) as Partial<StatusReport>;
  const file = report.service === 'llm-registrar' ? report.control?.tokenFile : undefined;
  if (typeof file !== 'string' || basename(file) !== STATUS_TOKEN_FILE) return undefined;
  const stat = await lstat(file).catch(() => undefined);
  if (!stat?.isFile() || (stat.mode & 0o077) !== 0 || (process.getuid && stat.uid !== process.getuid())) return undefined;
  const token = await readStatusToken(dirname(file));
  return token !== undefined && /^[A-Za-z0-9_-]{16,128}$/.test(token) ? token : undefined;
}

export async function pauseCommand(options: {
  action: 'pause' | 'resume';
  names: string[];
  for?: string;
  statusUrl?: string;
  stateDir?: string;
  json?: boolean;
}): Promise<number> {
  const forMs = options.for === undefined ? undefined : parseFor(options.for);
  if (forMs !== undefined && options.action === 'resume') throw new UsageError('--for goes with pause, not resume');
  const base = (options.statusUrl ?? process.env.LLM_REGISTRAR_STATUS_URL ?? DEFAULT_STATUS_URL).replace(/\/+$/, '');
  const fail = (message: string) => {
    process.stderr.write(`llm-registrar ${options.action}: ${message}\n`);
    return 1;
  };
  let token: string | undefined;
  try {
    token = await tokenFor(base, options.stateDir);
  } catch {
    return fail(`no registrar answers at ${base}: is it running? pass --status-url URL (see its --status-port)`);
  }
  if (token === undefined) return fail(`found no status token for ${base}: pass --state-dir DIR, the daemon's state dir (its status-token file)`);
  let response: Response;
  try {
    response = await fetch(`${base}/${options.action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ names: options.names, ...(forMs === undefined ? {} : { forMs }) }),
      signal: AbortSignal.timeout(5_000),
    });
  } catch {
    return fail(`no registrar answers at ${base}: is it running?`);
  }
  const answer = (await response.json().catch(() => ({}))) as { error?: string; paused?: string[]; resumed?: string[]; until?: string };
  if (!response.ok) return fail(answer.error ?? `the status server answered ${response.status}`);
  if (options.json) {
    process.stdout.write(JSON.stringify(answer) + '\n');
    return 0;
  }
  const names = (answer.paused ?? answer.resumed ?? []).map((name) => `'${name}'`).join(', ');
  process.stdout.write(
    options.action === 'pause'
      ? `paused ${names}: the hub shows them paused and refuses new calls (running ones finish)${answer.until ? `; sharing resumes on its own at ${clockTime(answer.until)}` : '; `llm-registrar resume` shares them again'}\n`
      : `resumed ${names}: shared again\n`,
  );
  return 0;
}
