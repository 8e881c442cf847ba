// What `start` and `up` say at info level while they run, beside the waits (progress.ts): that the daemon is live,
// with what it publishes, to whom and where to call it; and one line per finished call. State transitions are debug.
import type { StatusTracker, TransitionNotice } from '../../inspect/tracker.ts';
import type { PublishedRow } from '../../inspect/views.ts';
import { taskFacts } from '../../machines/selectors.ts';
import { TASK_ENDS, type TaskContext } from '../../machines/task.ts';
import { redactUrl } from '../redact.ts';
import type { Logger } from '../log.ts';

/** Enough of a task id to find it in the hub's log and on the status page. */
export function shortId(taskId: string): string {
  return taskId.slice(0, 8);
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function describeRow(row: PublishedRow): string {
  const who = row.visibility === 'public' ? 'public: every token of the hub' : 'private: your token alone';
  return `'${row.name}' (${who}${row.poolName ? `; pool '${row.poolName}'` : ''})`;
}

/** The line that says the daemon serves: what, to whom, and the URL a caller sends to. */
export function liveLine(hubUrl: string, published: PublishedRow[]): string {
  const base = hubUrl.replace(/\/+$/, '');
  const first = published[0];
  const call = first ? `; callers POST ${base}/v1/chat/completions with "model": "${first.poolName ?? first.name}"` : '';
  return `live on ${base}: publishing ${published.length > 0 ? published.map(describeRow).join(', ') : 'no model yet (its server lists none)'}${call}`;
}

export interface ActivityLog {
  /** For the daemon's observer: the first token of a streamed task came `ms` after its frame. */
  firstToken(taskId: string, ms: number): void;
  stop(): void;
}

/** The live line names what `tracker.published()` says when the stream opens: the models a `model: "*"` provider lists. */
export function logActivity(options: { tracker: Pick<StatusTracker, 'onTransition' | 'published'>; logger: Logger; hubUrl: string }): ActivityLog {
  const { logger } = options;
  // The line per finished call carries only fields written here (ids, names, a duration, our own error text), where
  // no secret can hide: it skips the redaction of every path, which cost three times the line itself (16 µs a call).
  const callLogger = logger.child({}, { redact: { paths: [] } });
  const hubUrl = redactUrl(options.hubUrl);
  // One entry per streamed task still running: deleted when the task ends.
  const firstTokens = new Map<string, number>();
  let live = false;
  let lostAt: number | undefined;

  const onSession = (notice: TransitionNotice) => {
    if (notice.to === 'connected.streaming.open') {
      if (!live) {
        const published = options.tracker.published();
        logger.info({ hub: hubUrl, published: published.map((row) => row.name) }, liveLine(hubUrl, published));
      }
      else if (lostAt !== undefined) logger.info({ hub: hubUrl, downMs: Date.parse(notice.at) - lostAt }, `live again on ${hubUrl} after ${duration(Date.parse(notice.at) - lostAt)}`);
      live = true;
      lostAt = undefined;
    } else if (live && lostAt === undefined && notice.from === 'connected.streaming.open') {
      lostAt = Date.parse(notice.at);
    }
  };

  const onTask = (notice: TransitionNotice) => {
    if (!TASK_ENDS.has(notice.to)) return;
    const task = taskFacts(notice.context as unknown as TaskContext);
    const ms = Date.parse(notice.at) - (task.receivedAt ?? Date.parse(notice.at));
    const first = firstTokens.get(task.taskId);
    firstTokens.delete(task.taskId);
    const { error } = task;
    const kind = task.kind ?? 'refused';
    const fields = { task: shortId(task.taskId), provider: task.llmName, kind, outcome: notice.to, ms, ...(first !== undefined ? { firstTokenMs: first } : {}) };
    const what = kind === 'wake' ? 'wake' : 'call';
    const firstText = first !== undefined ? `, first token after ${duration(first)}` : '';
    const message = `${what} ${shortId(task.taskId)} on '${task.llmName}': ${notice.to} in ${duration(ms)}${firstText}${notice.to === 'failed' && error ? `: ${error}` : ''}`;
    if (notice.to === 'failed') callLogger.warn(fields, message);
    else callLogger.info(fields, message);
  };

  const stop = options.tracker.onTransition((notice) => {
    if (notice.kind === 'session') onSession(notice);
    else if (notice.kind === 'task') onTask(notice);
  });
  return {
    firstToken: (taskId, ms) => void firstTokens.set(taskId, ms),
    stop,
  };
}
