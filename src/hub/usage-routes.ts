// GET /api/v1/usage (calls and tokens per user or model; a user sees their own calls, an admin everyone's) and
// GET /metrics (Prometheus text, admin only: it counts every user's calls).
import type { FastifyInstance } from 'fastify';
import { viewerOf } from './auth.ts';
import { hubError } from './error-codes.ts';
import { replyError } from './errors.ts';
import type { HubMetrics } from './metrics.ts';
import type { UsageLedger } from './usage.ts';

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A year back is as far as any ledger keeps; further is a typo. */
const MAX_BACK_MS = 366 * 86_400_000;
const DEFAULT_SINCE = '24h';

/**
 * `since` as ms since the epoch: a duration back from now (`90s`, `30m`, `24h`, `7d`), a time in ms since the epoch,
 * or an ISO 8601 date; undefined when it is none of them.
 */
export function parseSince(text: string, now: number): number | undefined {
  const duration = /^(\d{1,9})([smhd])$/.exec(text);
  if (duration) {
    const back = Number(duration[1]) * (UNIT_MS[duration[2] ?? ''] ?? 0);
    return back <= MAX_BACK_MS ? now - back : undefined;
  }
  if (/^\d{1,15}$/.test(text)) return Number(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at;
}

export function usageRoutes(app: FastifyInstance, options: { usage: UsageLedger; metrics: HubMetrics; now: () => number }): void {
  app.get('/api/v1/usage', async (request, reply) => {
    const viewer = viewerOf(request);
    const query = request.query as Record<string, unknown>;
    const sinceText = query.since ?? DEFAULT_SINCE;
    const since = typeof sinceText === 'string' ? parseSince(sinceText, options.now()) : undefined;
    if (since === undefined) {
      return replyError(reply, { ...hubError('invalid_request', `since: expected a duration back (90s, 30m, 24h, 7d; at most 366d), ms since the epoch or an ISO date, not '${String(sinceText).slice(0, 64)}'`), param: 'since' });
    }
    const by = query.by ?? 'model';
    if (by !== 'user' && by !== 'model') return replyError(reply, { ...hubError('invalid_request', `by: expected 'user' or 'model', not '${String(by).slice(0, 64)}'`), param: 'by' });
    const rows = await options.usage.summary({ since, by, ...(viewer.admin ? {} : { caller: viewer.user }) });
    return { since: new Date(since).toISOString(), by, scope: viewer.admin ? 'everyone' : viewer.user, rows };
  });

  app.get('/metrics', async (request, reply) => {
    if (!viewerOf(request).admin) return replyError(reply, hubError('admin_only', "/metrics counts every user's calls"));
    return reply.type(options.metrics.contentType).send(await options.metrics.text());
  });
}
