// The registrar endpoints of SPEC.md: register, heartbeat, the task stream, task results, leave.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CAPABILITY_OPENAI, HeartbeatRequest, LeaveRequest, parseWith, paths, RegisterRequest, SESSION_HEADER, TaskResult } from '../protocol/index.ts';
import { tokenDigestOf, viewerOf } from './auth.ts';
import { hubError } from './error-codes.ts';
import { replyError } from './errors.ts';
import { shortId } from './session-ids.ts';
import { openSse } from './sse.ts';
import type { HubState } from './state/index.ts';
import type { FrameSink } from './tasks.ts';

export interface ProviderRoutesOptions {
  state: HubState;
  keepAliveMs: number;
  logger: Logger;
  now: () => number;
}

export function providerRoutes(app: FastifyInstance, options: ProviderRoutesOptions): void {
  const { state, logger, now } = options;
  const { registry, tasks } = state;

  app.post(paths.register, async (request, reply) => {
    const viewer = viewerOf(request);
    const parsed = parseWith(RegisterRequest, request.body);
    if (!parsed.ok) return replyError(reply, hubError('invalid_request', parsed.error));
    const outcome = await state.register(viewer.user, parsed.value, now());
    if (!outcome.ok) {
      if (outcome.status === 403) logger.warn({ user: viewer.user, session: shortId(parsed.value.providerSessionId ?? '') }, 'register refused: the session id was not issued to this user');
      return replyError(reply, 'code' in outcome ? outcome : hubError('hub_unavailable', outcome.message));
    }
    registry.noteToken(outcome.sessionId, tokenDigestOf(request));
    for (const lost of outcome.forgotten) {
      tasks.forgetSession(lost, 'its names were taken over by another session');
      logger.warn({ session: shortId(lost), by: shortId(outcome.sessionId) }, 'session forgotten: every name it published was taken over');
    }
    for (const old of outcome.evicted) {
      tasks.forgetSession(old, 'the session was deleted to make room for a newer one of the same user');
      logger.info({ session: shortId(old), user: viewer.user }, 'session deleted: its user reached maxSessionsPerUser and it was past the watchdog');
    }
    logger.info(
      {
        session: shortId(outcome.sessionId),
        user: viewer.user,
        llms: parsed.value.providers.map((p) => p.name),
        agents: (parsed.value.agents ?? []).map((a) => a.name),
        adopted: outcome.adopted,
        takenOver: outcome.takenOver,
      },
      'session registered',
    );
    const { capabilities } = outcome;
    return reply.code(201).send(capabilities.length > 0 ? { providerSessionId: outcome.sessionId, capabilities } : { providerSessionId: outcome.sessionId });
  });

  app.post(paths.heartbeat, async (request, reply) => {
    const viewer = viewerOf(request);
    const parsed = parseWith(HeartbeatRequest, request.body);
    if (!parsed.ok) return replyError(reply, hubError('invalid_request', parsed.error));
    if (!(await state.heartbeat(viewer.user, parsed.value, now()))) return replyError(reply, hubError('session_unknown', 'register again'));
    registry.noteToken(parsed.value.providerSessionId, tokenDigestOf(request));
    return { ok: true };
  });

  app.post(paths.leave, async (request, reply) => {
    const viewer = viewerOf(request);
    const parsed = parseWith(LeaveRequest, request.body);
    if (!parsed.ok) return replyError(reply, hubError('invalid_request', parsed.error));
    const sessionId = parsed.value.providerSessionId;
    const left = await state.leave(viewer.user, sessionId);
    if (left !== true && left !== false) return replyError(reply, hubError('hub_unavailable', left.message));
    if (!left) return replyError(reply, hubError('session_unknown', 'nothing to leave'));
    const failed = tasks.sessionLeft(sessionId, 'the registrar publishing this model left the hub');
    logger.info({ session: shortId(sessionId), user: viewer.user, llms: registry.rowNamesOf(sessionId), failedTasks: failed }, 'session left: its rows are inactive');
    return { ok: true };
  });

  app.get(paths.stream, async (request, reply) => {
    const viewer = viewerOf(request);
    const sessionId = request.headers[SESSION_HEADER];
    if (typeof sessionId !== 'string' || sessionId === '') return replyError(reply, hubError('missing_session_header', SESSION_HEADER));
    if (registry.sessionOf(viewer.user, sessionId) === undefined) await state.catchUp().catch(() => undefined);
    const session = registry.sessionOf(viewer.user, sessionId);
    if (!session) return replyError(reply, hubError('session_unknown', 'register again'));
    registry.confirm(session.id);
    registry.noteToken(session.id, tokenDigestOf(request));

    const sse = openSse(reply, options.keepAliveMs);
    const sink: FrameSink = { send: (frame) => sse.send(JSON.stringify(frame), 'task'), end: () => sse.end() };
    sse.onClose(() => tasks.detachStream(session.id, sink));
    tasks.attachStream(session.id, sink);
    return reply;
  });

  app.post<{ Params: { taskId: string } }>('/api/v1/llms/_provider-task/:taskId/result', async (request, reply) => {
    const viewer = viewerOf(request);
    const parsed = parseWith(TaskResult, request.body);
    // valibot's own text for a failed union of objects says nothing useful ("Expected Object but received Object").
    if (!parsed.ok) return replyError(reply, hubError('invalid_result', 'invalid result: expected exactly one of {status: 200, body}, {error}, {chunk: {data, seq?, done?}}'));
    const header = request.headers[SESSION_HEADER];
    const { taskId } = request.params;
    const sessionId = await tasks.sessionOf(taskId);
    // Our registrars (they speak openai.v1) always name the task's session; base registrars (mcpd's, the seed's)
    // send no header, and their results are matched by task id and token owner alone, as on mcpd.
    if ((typeof header !== 'string' || header === '') && sessionId !== undefined && registry.speaks(sessionId, CAPABILITY_OPENAI)) {
      return replyError(reply, hubError('missing_session_header', SESSION_HEADER, 'a result names the session its task was sent to'));
    }
    const owned = sessionId !== undefined && (header === undefined || header === sessionId) && registry.sessionOf(viewer.user, sessionId) !== undefined;
    // Another user's task, or another session's, is answered exactly like a task that does not exist.
    if (!owned || !(await tasks.accept(taskId, parsed.value))) return replyError(reply, hubError('task_unknown', taskId));
    registry.confirm(sessionId);
    return { ok: true };
  });
}
