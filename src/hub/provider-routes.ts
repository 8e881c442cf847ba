// The four registrar endpoints of SPEC.md: register, heartbeat, the task stream, task results.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CAPABILITY_RESULT_STREAM, HeartbeatRequest, parseWith, paths, RegisterRequest, SESSION_HEADER, TaskResult } from '../protocol/index.ts';
import { viewerOf } from './auth.ts';
import { sendError } from './errors.ts';
import type { Registry } from './registry.ts';
import { openSse } from './sse.ts';
import type { FrameSink, TaskTable } from './tasks.ts';

export interface ProviderRoutesOptions {
  registry: Registry;
  tasks: TaskTable;
  keepAliveMs: number;
  logger: Logger;
  now: () => number;
}

export function providerRoutes(app: FastifyInstance, options: ProviderRoutesOptions): void {
  const { registry, tasks, logger, now } = options;

  app.post(paths.register, async (request, reply) => {
    const viewer = viewerOf(request);
    const parsed = parseWith(RegisterRequest, request.body);
    if (!parsed.ok) return sendError(reply, 400, parsed.error);
    const outcome = registry.register(viewer.user, parsed.value, now(), randomUUID);
    if (!outcome.ok) return sendError(reply, outcome.status, outcome.message);
    for (const lost of outcome.forgotten) {
      tasks.forgetSession(lost, 'its names were taken over by another session');
      logger.warn({ session: lost, by: outcome.sessionId }, 'session forgotten: every name it published was taken over');
    }
    logger.info(
      {
        session: outcome.sessionId,
        user: viewer.user,
        llms: parsed.value.providers.map((p) => p.name),
        agents: (parsed.value.agents ?? []).map((a) => a.name),
        adopted: outcome.adopted,
        takenOver: outcome.takenOver,
      },
      'session registered',
    );
    // What this hub speaks of what the registrar asked for (SPEC.md §5).
    const capabilities = (parsed.value.capabilities ?? []).filter((c) => c === CAPABILITY_RESULT_STREAM);
    return reply.code(201).send({ providerSessionId: outcome.sessionId, ...(capabilities.length > 0 ? { capabilities } : {}) });
  });

  app.post(paths.heartbeat, async (request, reply) => {
    const viewer = viewerOf(request);
    const parsed = parseWith(HeartbeatRequest, request.body);
    if (!parsed.ok) return sendError(reply, 400, parsed.error);
    if (!registry.heartbeat(viewer.user, parsed.value, now())) return sendError(reply, 404, 'unknown providerSessionId: register again');
    return { ok: true };
  });

  app.get(paths.stream, async (request, reply) => {
    const viewer = viewerOf(request);
    const sessionId = request.headers[SESSION_HEADER];
    if (typeof sessionId !== 'string' || sessionId === '') return sendError(reply, 400, `missing header ${SESSION_HEADER}`);
    const session = registry.sessionOf(viewer.user, sessionId);
    if (!session) return sendError(reply, 404, 'unknown providerSessionId: register again');

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
    if (!parsed.ok) return sendError(reply, 400, `invalid result: expected exactly one of {status: 200, body}, {error}, {chunk: {data, seq?, done?}}`);
    const { taskId } = request.params;
    const sessionId = tasks.sessionOf(taskId);
    const header = request.headers[SESSION_HEADER];
    const owned =
      sessionId !== undefined &&
      registry.sessionOf(viewer.user, sessionId) !== undefined &&
      (header === undefined || header === sessionId);
    // Another user's task, or another session's, is answered exactly like a task that does not exist.
    if (!owned || !tasks.accept(taskId, parsed.value as TaskResult)) return sendError(reply, 404, `task '${taskId}' is unknown or expired`);
    return { ok: true };
  });
}
