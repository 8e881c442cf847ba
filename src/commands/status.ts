// `llm-registrar status`: the running daemon's actor tree in the terminal, read from its status server. The exit
// code answers "is it serving?" for scripts: 0 connected, 1 running but not connected, 3 not running.
import type { ProviderView, SessionView, StatusReport } from '../../inspect/tracker.ts';
import { DEFAULT_STATUS_PORT } from '../../inspect/status-server.ts';

export const EXIT_NOT_CONNECTED = 1;
export const EXIT_NOT_RUNNING = 3;
export const DEFAULT_STATUS_URL = `http://127.0.0.1:${DEFAULT_STATUS_PORT}`;

type Paint = (text: string) => string;
interface Palette {
  ok: Paint;
  warn: Paint;
  bad: Paint;
  busy: Paint;
  dim: Paint;
  bold: Paint;
}

function palette(colour: boolean): Palette {
  const sgr = (code: string): Paint => (colour ? (text) => `\x1b[${code}m${text}\x1b[0m` : (text) => text);
  return { ok: sgr('32'), warn: sgr('33'), bad: sgr('31'), busy: sgr('36'), dim: sgr('2'), bold: sgr('1') };
}

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

/** The tree, one line per actor, as `status` prints it. */
export function formatStatus(report: StatusReport, options: { colour: boolean }): string {
  const p = palette(options.colour);
  const now = Date.parse(report.now);
  const since = (iso: string) => seconds(now - Date.parse(iso));
  const lines: string[] = [];
  const head = [`pid ${report.pid}`, `up ${since(report.startedAt)}`];
  if (report.hub) head.push(`hub ${report.hub.url}`);
  lines.push(`${p.bold('llm-registrar')}  ${p.dim(head.join(' · '))}`);

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
      lines.push(`  ${p.dim(clock)}  ${t.kind === 'task' ? `task ${t.actor}` : t.actor}  ${t.from || 'start'} → ${t.to}  ${p.dim(t.event)}`);
    }
  }
  return lines.join('\n') + '\n';
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
  else process.stdout.write(formatStatus(report, { colour: process.stdout.isTTY === true && !process.env.NO_COLOR }));
  if (report.session?.connected) return 0;
  if (!options.json) {
    const why = report.session ? `the session is ${report.session.state}` : report.note ?? `the daemon is ${report.phase}`;
    process.stderr.write(`not connected to the hub: ${why}\n`);
  }
  return EXIT_NOT_CONNECTED;
}
