// Every error the hub answers has one shape, OpenAI's: `{ error: { message } }` — fastify's own errors included.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

export function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: { message } });
}

/**
 * Errors fastify raises before routing (a path that is not valid percent-encoding, a path segment too long): without
 * this they answer in fastify's own shape, not ours.
 */
export function frameworkErrors(error: { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') void sendError(reply, 414, 'a path segment is too long');
  else void sendError(reply, 400, 'the path is not valid percent-encoding');
}

export function installErrorHandlers(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error: { statusCode?: number; message?: string }, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    return sendError(reply, status, status >= 500 ? 'internal error of the hub' : (error.message ?? 'bad request'));
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, `no route ${request.method} ${request.url.split('?')[0]}`));
}
