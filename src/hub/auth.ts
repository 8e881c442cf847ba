// Bearer tokens → users. Tokens are compared by their SHA-256 digest, so a lookup neither walks the prototype of a
// plain object nor leaks through timing how much of a guessed token was right; no token is ever logged or echoed.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hubError } from './error-codes.ts';
import { replyError } from './errors.ts';
import type { Viewer } from './registry.ts';
import { recordsOf, tokenDigest, type HubUser, type TokenRecord } from './tokens.ts';

export type { HubUser };

/** Routes that answer without a token: `up` waits on /healthz; / is a static page that asks for the token itself. */
const PUBLIC_ROUTES = new Set(['/healthz', '/']);

export class TokenTable {
  #byDigest = new Map<string, Viewer>();
  readonly #revokeListeners = new Set<(digests: ReadonlySet<string>) => void>();

  /** Clear tokens (the command line, tests) and hashed records (a tokens file). */
  constructor(tokens: Record<string, HubUser> = {}, records: TokenRecord[] = []) {
    this.replace([...recordsOf(tokens), ...records]);
  }

  /**
   * Swaps the whole table at once (a reloaded tokens file): every request sees the old table or the new one. The
   * digests that are gone are told to the revoke listeners, after the swap: what they cut cannot come back with them.
   */
  replace(records: TokenRecord[]): void {
    const before = this.#byDigest;
    this.#byDigest = new Map(records.map((record) => [record.digest, { user: record.user, admin: record.admin }]));
    const revoked = new Set([...before.keys()].filter((digest) => !this.#byDigest.has(digest)));
    if (revoked.size > 0) for (const listener of this.#revokeListeners) listener(revoked);
  }

  /** Called with the digests of the tokens each replace() removed; returns the unsubscribe. */
  onRevoked(listener: (digests: ReadonlySet<string>) => void): () => void {
    this.#revokeListeners.add(listener);
    return () => this.#revokeListeners.delete(listener);
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** The user of an `Authorization: Bearer <token>` header, or undefined. */
  authenticate(header: string | undefined): Viewer | undefined {
    return this.identify(header)?.viewer;
  }

  /** The user of the header's token and that token's digest (what a session is cut by when the token is revoked). */
  identify(header: string | undefined): { viewer: Viewer; digest: string } | undefined {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
    if (!match) return undefined;
    const digest = tokenDigest(match[1] ?? '');
    const viewer = this.#byDigest.get(digest);
    return viewer ? { viewer, digest } : undefined;
  }
}

const viewers = new WeakMap<FastifyRequest, { viewer: Viewer; digest: string }>();

/** Every route but the public ones answers 401 `{error:{message}}` without a known bearer token. */
export function installAuth(app: FastifyInstance, tokens: TokenTable): void {
  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) return;
    // Anthropic clients (Claude Code with ANTHROPIC_API_KEY, the SDK's apiKey) send the token as `x-api-key`.
    const apiKey = request.headers['x-api-key'];
    const viewer = tokens.identify(request.headers.authorization) ?? (typeof apiKey === 'string' ? tokens.identify(`Bearer ${apiKey}`) : undefined);
    if (!viewer) {
      reply.header('www-authenticate', 'Bearer');
      return replyError(reply, hubError('invalid_api_key'));
    }
    viewers.set(request, viewer);
  });
}

/** The authenticated caller of a request that went through the auth hook. */
export function viewerOf(request: FastifyRequest): Viewer {
  return identityOf(request).viewer;
}

/** The digest of the token a request came with: the sessions it opens go when the token is revoked. */
export function tokenDigestOf(request: FastifyRequest): string {
  return identityOf(request).digest;
}

function identityOf(request: FastifyRequest): { viewer: Viewer; digest: string } {
  const identity = viewers.get(request);
  if (!identity) throw new Error(`no authenticated user on ${request.method} ${request.url}: is the route public by mistake?`);
  return identity;
}
