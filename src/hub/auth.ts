// Bearer tokens → users. Tokens are compared by their SHA-256 digest, so a lookup neither walks the prototype of a
// plain object nor leaks through timing how much of a guessed token was right; no token is ever logged or echoed.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sendError } from './errors.ts';
import type { Viewer } from './registry.ts';
import { recordsOf, tokenDigest, type TokenRecord } from './tokens.ts';

export interface HubUser {
  user: string;
  admin?: boolean;
}

/** Routes that answer without a token: `up` waits on /healthz; / is a static page that asks for the token itself. */
const PUBLIC_ROUTES = new Set(['/healthz', '/']);

export class TokenTable {
  #byDigest = new Map<string, Viewer>();

  /** Clear tokens (the command line, tests) and hashed records (a tokens file). */
  constructor(tokens: Record<string, HubUser> = {}, records: TokenRecord[] = []) {
    this.replace([...recordsOf(tokens), ...records]);
  }

  /** Swaps the whole table at once (a reloaded tokens file): every request sees the old table or the new one. */
  replace(records: TokenRecord[]): void {
    this.#byDigest = new Map(records.map((record) => [record.digest, { user: record.user, admin: record.admin }]));
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** The user of an `Authorization: Bearer <token>` header, or undefined. */
  authenticate(header: string | undefined): Viewer | undefined {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
    return match ? this.#byDigest.get(tokenDigest(match[1] ?? '')) : undefined;
  }
}

const viewers = new WeakMap<FastifyRequest, Viewer>();

/** Every route but the public ones answers 401 `{error:{message}}` without a known bearer token. */
export function installAuth(app: FastifyInstance, tokens: TokenTable): void {
  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) return;
    // Anthropic clients (Claude Code with ANTHROPIC_API_KEY, the SDK's apiKey) send the token as `x-api-key`.
    const apiKey = request.headers['x-api-key'];
    const viewer = tokens.authenticate(request.headers.authorization) ?? (typeof apiKey === 'string' ? tokens.authenticate(`Bearer ${apiKey}`) : undefined);
    if (!viewer) {
      reply.header('www-authenticate', 'Bearer');
      return sendError(reply, 401, 'missing or unknown bearer token (Authorization: Bearer <token>)');
    }
    viewers.set(request, viewer);
  });
}

/** The authenticated caller of a request that went through the auth hook. */
export function viewerOf(request: FastifyRequest): Viewer {
  const viewer = viewers.get(request);
  if (!viewer) throw new Error(`no authenticated user on ${request.method} ${request.url}: is the route public by mistake?`);
  return viewer;
}
