// The hub page's usage cards in headless Chromium: a caller sees their calls and tokens per model over the last 24 h,
// an admin also everyone's per user. The page and /api/v1/llms come from a real hub; GET /api/v1/usage (the usage
// ledger, built on another branch) is answered to its contract by a small fastify in front of the hub.
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, browserSuite, haveChromium, launchChromium } from '../support/chromium.ts';
import { eventually, TOKEN } from '../support/cluster.ts';
import { startWatched, type Watched } from '../support/watched.ts';

const NOBODY = 'not-an-admin-token';

/** The usage contract: `{ since, by, rows: [{ key, calls, tokensIn, tokensOut, errors }] }`; by=user for admins only. */
function usageAnswer(token: string, by: string): { status: number; body: unknown } {
  const since = Date.now() - 24 * 3_600_000;
  if (token !== TOKEN && token !== NOBODY) return { status: 401, body: { error: { message: 'unknown token' } } };
  if (by === 'user') {
    return token === TOKEN
      ? { status: 200, body: { since, by, rows: [{ key: 'tester', calls: 12, tokensIn: 3400, tokensOut: 8100, errors: 1 }, { key: 'ada', calls: 40, tokensIn: 12000, tokensOut: 30500, errors: 0 }] } }
      : { status: 403, body: { error: { message: 'by=user needs an admin token' } } };
  }
  const rows = token === TOKEN
    ? [{ key: 'team-demo', calls: 9, tokensIn: 2100, tokensOut: 6400, errors: 1 }, { key: 'qwen-7b', calls: 3, tokensIn: 1300, tokensOut: 1700, errors: 0 }]
    : [];
  return { status: 200, body: { since, by, rows } };
}

describe.skipIf(!haveChromium)(browserSuite('usage on the hub page in Chromium'), () => {
  let browser: Browser;
  let stage: Watched;
  let front: FastifyInstance;
  let url: string;
  let page: Page;
  const asked: string[] = [];

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    stage = await startWatched({ providers: [{ name: 'team-demo', type: 'demo', model: 'demo', visibility: 'public' }], tokens: { [NOBODY]: { user: 'bo' } } });
    await eventually(() => expect(stage.tracker.sessionView()?.connected).toBe(true));
    front = Fastify();
    front.get('/api/v1/usage', async (request, reply) => {
      asked.push(request.url);
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
      const { status, body } = usageAnswer(token, (request.query as { by?: string }).by ?? 'model');
      return reply.code(status).send(body);
    });
    // Everything else is the real hub's: the page itself, /api/v1/llms, /api/v1/agents.
    front.get('/*', async (request, reply) => {
      const answer = await fetch(`${stage.hubUrl}${request.url}`, { headers: request.headers.authorization ? { authorization: request.headers.authorization } : {} });
      const type = answer.headers.get('content-type');
      const csp = answer.headers.get('content-security-policy');
      if (type) reply.header('content-type', type);
      if (csp) reply.header('content-security-policy', csp);
      return reply.code(answer.status).send(Buffer.from(await answer.arrayBuffer()));
    });
    url = await front.listen({ port: 0, host: '127.0.0.1' });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await front?.close();
    await stage?.close();
  });

  const signIn = async (token: string) => {
    await page.goto(`${url}/`);
    await page.evaluate(() => sessionStorage.clear());
    await page.goto(`${url}/`);
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.locator('#llms-card').waitFor();
  };

  it("shows an admin their calls and tokens per model and everyone's per user, over the last 24 h", async () => {
    await signIn(TOKEN);
    const mine = page.locator('#usage-card');
    await mine.locator('tr[data-key="team-demo"]').waitFor({ timeout: 5_000 });
    expect(await mine.locator('tr[data-key="team-demo"] .calls').textContent()).toBe('9');
    expect(await mine.locator('tr[data-key="team-demo"] .tokens-out').textContent()).toBe('6,400');
    expect(await mine.locator('tr.total .calls').textContent()).toBe('12');
    const team = page.locator('#team-usage-card');
    await team.locator('tr[data-key="ada"]').waitFor();
    // Busiest first.
    expect(await team.locator('tbody tr[data-key]').first().getAttribute('data-key')).toBe('ada');
    expect(await team.locator('tr.total .tokens-in').textContent()).toBe('15,400');
    expect(asked.some((path) => path.includes('since=24h') && path.includes('by=model'))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'hub-page-usage-admin.png'), fullPage: true });
  });

  it('shows a caller without admin rights only their own usage, and says when there is none', async () => {
    await signIn(NOBODY);
    await page.locator('#usage-card .empty', { hasText: 'No calls in the last 24 hours.' }).waitFor({ timeout: 5_000 });
    // by=user is refused to this token: the card of everyone's usage stays hidden.
    expect(await page.locator('#team-usage-card').isHidden()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'hub-page-usage-user.png'), fullPage: true });
  });
});
