// `llm-registrar status`: the running daemon's actor tree in the terminal, read from its status server. The exit
// code answers "is it serving?" for scripts: 0 connected, 1 running but not connected, 3 not running.
import type { ProviderView, SessionView, StatusReport, TransitionRecord } from '../../inspect/views.ts';
import { DEFAULT_STATUS_PORT } from '../../inspect/status-server.ts';
import { colourWanted, palette, type Palette } from './palette.ts';

export const EXIT_NOT_CONNECTED = 1;
export const EXIT_NOT_RUNNING = 3;
export const DEFAULT_STATUS_URL = `http://127.0.0.1:${DEFAULT_STATUS_PORT}`;

type Paint = (text: string) => string;

function seconds(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days`;
}

function sessionTone(session: SessionView, p: Palette): Paint {
  if (session.connected) return p.ok;
  if (session.state === 'retrying' || session.state === 'connected.backoff') return p.warn;
  return p.busy;
}

function providerTone(state: string, p: Palette): Paint {
  if (state === 'active') return p.ok;
  if (state === 'unavailable') return p.bad;
  if (state === 'hibernating') return p.dim;
  return p.busy;
}

/** Where the daemon stands with its hub, in a sentence: what `status` says first, and on stderr when not connected. */
export function sessionInWords(report: StatusReport): string {
  const now = Date.parse(report.now);
  const session = report.session;
  if (!session) return report.phase === 'idle' ? `idle: ${report.note ?? 'nothing to publish'}` : report.phase === 'stopped' ? 'stopped' : 'starting';
  const next = session.retryAt ? `, next try in ${seconds(Date.parse(session.retryAt) - now)}` : '';
  const unreachable = /unreachable|did not answer|ECONNREFUSED|ENOTFOUND|timed? ?out/i.test(session.lastError ?? '');
  if (session.connected) return 'connected: the hub can send this registrar tasks';
  switch (session.state) {
    case 'retrying':
      if (session.refused) return `the hub refused the register${next}: check hub.token, and that no one else publishes these names`;
      return unreachable ? `hub unreachable${next}` : `register failed${next}`;
    case 'connected.backoff':
      return unreachable ? `hub unreachable (the task stream dropped)${next}` : `task stream lost${next}`;
    case 'registering':
      return 'registering with the hub';
    case 'draining':
      return 'draining: finishing the running tasks, taking no new ones';
    case 'stopped':
      return 'stopped';
    default:
      return session.state.startsWith('connected.streaming') ? 'registered; opening the task stream' : session.state;
  }
}

function formatPublished(report: StatusReport, p: Palette): string[] {
  if (!report.published || report.published.length === 0) return [];
  const width = Math.max(...report.published.map((row) => row.name.length));
  return [
    'publishes:',
    ...report.published.map((row) => {
      const visibility = row.visibility === 'public' ? p.warn('public ') : p.dim('private');
      return `  ${row.name.padEnd(width)}  ${visibility}  ${row.poolName ? `pool ${row.poolName}  ` : ''}${p.dim(`${row.type} ${row.model}`)}`;
    }),
  ];
}

/** The tree, one line per actor, as `status` prints it. */
export function formatStatus(report: StatusReport, options: { colour: boolean }): string {
  const p = palette(options.colour);
  const now = Date.parse(report.now);
  const since = (iso: string) => seconds(now - Date.parse(iso));
  const lines: string[] = [];
  const head = [`pid ${report.pid}`, `up ${since(report.startedAt)}`];
  if (report.hub) head.push(`hub ${report.hub.url}`);
  lines.push(`${p.bold('llm-registrar')}  ${p.dim(head.join(' · '))}`);
  const summary = sessionInWords(report);
  lines.push(report.session?.connected ? p.ok(summary) : report.session?.retryAt ? p.warn(summary) : summary);
  if (report.config) lines.push(`config ${report.config.path}`);
  lines.push(...formatPublished(report, p), '');

  const session = report.session;
  if (!session) {
    lines.push(`└─ ${p.bold('session')}  ${p.dim(report.phase)}${report.note ? `  ${report.note}` : ''}`);
  } else {
    const tone = sessionTone(session, p);
    const words = session.connected ? 'connected' : session.state;
    lines.push(`└─ ${p.bold('session')}  ${tone(words)} ${p.dim(`(${session.state}, for ${since(session.since)})`)}  ${session.sessionId ? `id ${session.sessionId}` : p.dim('no session id yet')}`);
    const detail: string[] = [];
    if (session.retryAt) detail.push(p.warn(`next try in ${seconds(Date.parse(session.retryAt) - now)} (attempt ${session.attempt})`));
    if (session.refused) detail.push(p.bad('the hub refused this registrar (401/403/409): check the token and the names'));
    if (session.lastError) detail.push(p.bad(`last error: ${session.lastError}`));
    const bar = report.providers.length > 0 ? '│' : ' ';
    for (const line of detail) lines.push(`   ${bar}  ${line}`);
  }
  report.providers.forEach((provider, index) => lines.push(...formatProvider(provider, index === report.providers.length - 1, now, p)));
  if (report.providers.length === 0 && report.phase !== 'idle') lines.push(`   ${p.dim('(no provider yet)')}`);

  const recent = report.transitions.slice(-5);
  if (recent.length > 0) {
    lines.push('', p.dim('recent transitions:'));
    for (const t of recent) {
      const at = new Date(t.at);
      const clock = `${at.toTimeString().slice(0, 8)}.${String(at.getMilliseconds()).padStart(3, '0')}`;
      lines.push(`  ${p.dim(clock)}  ${t.kind === 'task' ? `task ${t.actor}` : t.actor}  ${stepOf(t)}  ${p.dim(t.event)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** A state change as `from → to`; a task is heard of once, when it ends, so it reads `ended done` (or failed, cancelled). */
function stepOf(t: TransitionRecord): string {
  if (t.from) return `${t.from} → ${t.to}`;
  return t.kind === 'task' ? `ended ${t.to}` : `start → ${t.to}`;
}

function formatProvider(provider: ProviderView, last: boolean, now: number, p: Palette): string[] {
  const branch = last ? '└─' : '├─';
  const under = last ? '   ' : '│  ';
  const lines = [
    `   ${branch} ${p.bold(`provider ${provider.name}`)}  ${providerTone(provider.state, p)(provider.state)}  ` +
      `${provider.running.length}/${provider.maxConcurrency} running · ${provider.queue} queued  ${p.dim(provider.upstream)}`,
  ];
  provider.running.forEach((task, index) => {
    const taskBranch = index === provider.running.length - 1 && !provider.lastError ? '└─' : '├─';
    lines.push(`   ${under}  ${taskBranch} task ${task.taskId}  ${task.kind}${task.streaming ? ' · stream' : ''}  ${p.busy(task.state)}  ${p.dim(seconds(now - Date.parse(task.receivedAt)))}`);
  });
  if (provider.lastWakeMs !== undefined) lines.push(`   ${under}  ${p.dim(`last wake took ${seconds(provider.lastWakeMs)}`)}`);
  if (provider.lastError) lines.push(`   ${under}  ${p.bad(`last error: ${provider.lastError}`)}`);
  return lines;
}

export async function statusCommand(options: { statusUrl?: string; json?: boolean }): Promise<number> {
  const base = (options.statusUrl ?? process.env.LLM_REGISTRAR_STATUS_URL ?? DEFAULT_STATUS_URL).replace(/\/+$/, '');
  let report: StatusReport;
  try {
    const response = await fetch(`${base}/status`, { signal: AbortSignal.timeout(3_000), headers: { accept: 'application/json' } });
    const body = (await response.json()) as Partial<StatusReport>;
    if (!response.ok || body.service !== 'llm-registrar') throw new Error(`${base} answers, but not as an llm-registrar status server`);
    report = body as StatusReport;
  } catch (error) {
    const reason = error instanceof Error && /llm-registrar status server/.test(error.message) ? error.message : `no registrar answers at ${base}`;
    process.stderr.write(`llm-registrar status: ${reason}\n  is it running? start it with \`llm-registrar start\`, or pass --status-url URL (see its --status-port)\n`);
    return EXIT_NOT_RUNNING;
  }
  if (options.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(formatStatus(report, { colour: colourWanted(process.stdout) }));
  if (report.session?.connected) return 0;
  if (!options.json) process.stderr.write(`not connected to the hub: ${sessionInWords(report)}\n`);
  return EXIT_NOT_CONNECTED;
}
