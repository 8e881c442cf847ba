// Every error the hub answers has one shape, OpenAI's: `{ error: { message, type, code, param } }` — fastify's own
// errors included — so SDKs read it, and a 503 says when to try again. The hub's own errors come from one table
// (error-codes.ts); an upstream's travel with their own type and code.
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { hubError, type HubError } from './error-codes.ts';

/** What an error can say beyond its message; an upstream's own `type`, `code` and `param` travel through as given. */
export interface ErrorDetail {
  type?: string;
  code?: string | null;
  param?: string | null;
}

/** Seconds a caller is told to wait after a 503: about one reconnect of a registrar (SPEC.md: backoff base 5 s). */
export const RETRY_AFTER_S = 5;

/** OpenAI's `type` for a status, for errors that did not come with one. */
export function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export function errorBody(status: number, message: string, detail: ErrorDetail = {}): { error: { message: string; type: string; code: string | null; param: string | null } } {
  return { error: { message, type: detail.type ?? errorType(status), code: detail.code ?? null, param: detail.param ?? null } };
}

export function sendError(reply: FastifyReply, status: number, message: string, detail?: ErrorDetail): FastifyReply {
  if (status === 503) reply.header('retry-after', String(RETRY_AFTER_S));
  return reply.code(status).send(errorBody(status, message, detail));
}

/** One of the hub's own errors (error-codes.ts), its code as OpenAI's `code`. */
export function replyError(reply: FastifyReply, error: HubError): FastifyReply {
  return sendError(reply, error.status, error.message, { code: error.code, param: error.param ?? null });
}

/** The same answer on a raw response (a hijacked reply: a streaming call that failed before its first byte). */
export function writeError(res: ServerResponse, status: number, message: string, detail?: ErrorDetail): void {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (status === 503) headers['retry-after'] = String(RETRY_AFTER_S);
  res.writeHead(status, headers);
  res.end(JSON.stringify(errorBody(status, message, detail)));
}

/**
 * Errors fastify raises before routing (a path that is not valid percent-encoding, a path segment too long): without
 * this they answer in fastify's own shape, not ours.
 */
export function frameworkErrors(error: { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  void replyError(reply, error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? hubError('path_too_long') : hubError('bad_path'));
}

export function installErrorHandlers(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error: { statusCode?: number; message?: string; code?: string }, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) {
      logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
      return replyError(reply, hubError('internal_error'));
    }
    // fastify's own errors carry their createError code (FST_ERR_CTP_BODY_TOO_LARGE, …).
    return sendError(reply, status, error.message ?? 'bad request', { code: error.code ?? 'invalid_request' });
  });
  app.setNotFoundHandler((request, reply) => replyError(reply, hubError('no_route', request.method, request.url.split('?')[0] ?? '')));
}
