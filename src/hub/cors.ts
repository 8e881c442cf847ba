// CORS for the browser apps an operator allows (`--cors-origin`, none by default): a preflight is answered before
// auth (it carries no token), and an allowed origin is named on every answer, raw streams included (the header is
// set on the raw response, which both fastify's replies and hijacked SSE answers write).
import type { FastifyInstance } from 'fastify';
import { hubError } from './error-codes.ts';
import { replyError } from './errors.ts';

/** How long a browser may keep a preflight's answer. */
const PREFLIGHT_MAX_AGE_S = 600;
/** Longest request-headers list echoed back (a browser's list is a few names; anything longer is not one). */
const MAX_REQUESTED_HEADERS = 1024;

/** An origin as a browser sends it (`scheme://host[:port]`, no path), or `*`; anything else is refused at start. */
function checkedOrigin(text: string): string {
  const origin = text.replace(/\/+$/, '');
  if (origin === '*') return origin;
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {
    parsed = undefined;
  }
  if (parsed?.origin !== origin) throw new Error(`--cors-origin '${text}' is not an origin: write scheme://host[:port], e.g. https://app.example`);
  return origin;
}

export function installCors(app: FastifyInstance, origins: readonly string[]): void {
  const allowed = new Set(origins.map(checkedOrigin));
  const allows = (origin: string): boolean => allowed.has('*') || allowed.has(origin);

  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string') return;
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (!allows(origin)) {
      if (!preflight) return;
      const shown = origin.length > 200 ? `${origin.slice(0, 200)}…` : origin;
      return replyError(reply, hubError('origin_not_allowed', shown));
    }
    reply.raw.setHeader('access-control-allow-origin', origin);
    reply.raw.setHeader('vary', 'Origin');
    if (!preflight) {
      reply.raw.setHeader('access-control-expose-headers', 'retry-after');
      return;
    }
    const requested = request.headers['access-control-request-headers'];
    reply.raw.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
    reply.raw.setHeader('access-control-allow-headers', typeof requested === 'string' && requested.length <= MAX_REQUESTED_HEADERS ? requested : 'authorization, content-type');
    reply.raw.setHeader('access-control-max-age', String(PREFLIGHT_MAX_AGE_S));
    return reply.code(204).send();
  });
}
