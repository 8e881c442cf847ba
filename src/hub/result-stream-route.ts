// A task's results as one streamed upload (capability `result.stream`, SPEC.md §4): the registrar POSTs one chunked
// NDJSON body per task, a TaskResult a line, as the model produces them; a GET says which `seq` the hub has, so an
// upload cut short resumes after it without losing or doubling text. One upload per task at a time: a newer one
// (or a GET) ends the older, so lines of two uploads never interleave.
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as v from 'valibot';
import { limits, parseJson, parseWith, ResultChunk, SESSION_HEADER, TaskResult, isFinalResult, type TaskResult as Result } from '../protocol/index.ts';
import { viewerOf } from './auth.ts';
import { hubError, type HubError } from './error-codes.ts';
import { replyError } from './errors.ts';
import type { Registry } from './registry.ts';
import type { TaskTable } from './tasks.ts';

export const NDJSON = 'application/x-ndjson';
const ROUTE = '/api/v1/llms/_provider-task/:taskId/result-stream';
/** Nearly every line is a chunk: checked against its own member of the union first, the union only for the rest. */
const ChunkLine = v.strictObject({ chunk: ResultChunk });

export interface ResultStreamOptions {
  registry: Registry;
  tasks: TaskTable;
}

type TaskRequest = FastifyRequest<{ Params: { taskId: string } }>;

export function resultStreamRoute(app: FastifyInstance, options: ResultStreamOptions): void {
  const { registry, tasks } = options;
  /** The upload each task has open, ended when a newer one (or a GET) comes for the same task. */
  const uploads = new Map<string, IncomingMessage>();

  const owned = (request: TaskRequest): boolean => {
    const sessionId = tasks.sessionOf(request.params.taskId);
    const header = request.headers[SESSION_HEADER];
    return sessionId !== undefined && registry.sessionOf(viewerOf(request).user, sessionId) !== undefined && (header === undefined || header === sessionId);
  };
  const gone = (reply: FastifyReply, taskId: string) => replyError(reply, hubError('task_unknown', taskId));
  const endUpload = (taskId: string) => {
    uploads.get(taskId)?.destroy();
    uploads.delete(taskId);
  };

  void app.register(async (scope) => {
    // The body is read here, line by line as it arrives, not buffered whole by fastify.
    scope.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));

    scope.get<{ Params: { taskId: string } }>(ROUTE, async (request, reply) => {
      const { taskId } = request.params;
      if (!owned(request)) return gone(reply, taskId);
      endUpload(taskId);
      return { seq: tasks.highestSeq(taskId) ?? -1 };
    });

    scope.post<{ Params: { taskId: string } }>(ROUTE, async (request, reply) => {
      const { taskId } = request.params;
      if (!request.headers['content-type']?.startsWith(NDJSON)) return replyError(reply, hubError('upload_media_type', NDJSON));
      // Another user's task, or another session's, is answered exactly like a task that does not exist.
      if (!owned(request)) return gone(reply, taskId);
      endUpload(taskId);
      const body = request.raw;
      uploads.set(taskId, body);
      const outcome = await readLines(body, (result) => tasks.accept(taskId, result));
      if (uploads.get(taskId) === body) uploads.delete(taskId);
      if (outcome.kind === 'replaced') return replyError(reply, hubError('upload_replaced'));
      // What is still unread belongs to no one: the connection closes rather than read it.
      if (outcome.kind !== 'ended') reply.header('connection', 'close');
      if (outcome.kind === 'gone') return gone(reply, taskId);
      if (outcome.kind === 'invalid') return replyError(reply, outcome.error);
      return { ok: true, seq: tasks.highestSeq(taskId) ?? outcome.lastSeq };
    });
  });
}

type Outcome =
  | { kind: 'ended'; lastSeq: number }
  | { kind: 'gone' }
  | { kind: 'replaced' }
  | { kind: 'invalid'; error: HubError };

/** Feeds every complete line of the body to `take` as it arrives; stops at the first line `take` refuses (gone). */
function readLines(body: IncomingMessage, take: (result: Result) => boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    let buffer = '';
    let lastSeq = -1;
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      body.pause();
      resolve(outcome);
    };
    const line = (text: string): boolean => {
      if (text.trim() === '') return true;
      const json = parseJson(text);
      const chunk = json.ok ? v.safeParse(ChunkLine, json.value) : undefined;
      const parsed = chunk?.success ? { ok: true as const, value: chunk.output } : json.ok ? parseWith(TaskResult, json.value) : json;
      if (!parsed.ok) {
        finish({ kind: 'invalid', error: hubError('invalid_result', 'invalid result line: expected one TaskResult as JSON ({chunk: {data, seq, done?}}, {status: 200, body} or {error})') });
        return false;
      }
      const result = parsed.value as Result;
      if (!take(result)) {
        finish({ kind: 'gone' });
        return false;
      }
      if ('chunk' in result && result.chunk.seq !== undefined) lastSeq = result.chunk.seq;
      // The task has ended: whatever follows is not read.
      if (isFinalResult(result)) {
        finish({ kind: 'ended', lastSeq });
        return false;
      }
      return true;
    };
    const onData = (piece: Buffer) => {
      buffer += piece.toString('utf8');
      let start = 0;
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n', start)) {
        if (!line(buffer.slice(start, end))) return;
        start = end + 1;
      }
      buffer = start === 0 ? buffer : buffer.slice(start);
      if (buffer.length > limits.maxBodyBytes) finish({ kind: 'invalid', error: hubError('result_line_too_large', limits.maxBodyBytes) });
    };
    body.on('data', onData);
    body.once('end', () => {
      if (buffer !== '' && !line(buffer)) return;
      finish({ kind: 'ended', lastSeq });
    });
    // Cut short (the registrar's connection broke, or a newer upload ended this one): it resumes after a GET.
    body.once('close', () => finish(body.readableEnded ? { kind: 'ended', lastSeq } : { kind: 'replaced' }));
  });
}
