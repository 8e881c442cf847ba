// GET / on the hub: a static page for callers that asks for the token itself, so the route needs none. In Chromium:
// the token travels in the Authorization header of every call the page makes, never in a URL, and stays in the tab
// that was given it.
import type { Browser, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, haveChromium, launchChromium } from '../support/chromium.ts';
import { ALICE, hubHarness, provider } from './helpers.ts';

const harness = hubHarness();

describe('the hub front page', () => {
  it('answers without a token, uncached, with a policy that lets it call its own hub alone', async () => {
    const hub = await harness.start();
    const response = await fetch(`${hub.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('content-security-policy')).toContain("connect-src 'self'");
  });

  it('leaves every other route behind the token', async () => {
    const hub = await harness.start();
    expect((await fetch(`${hub.url}/api/v1/llms`)).status).toBe(401);
    expect((await fetch(`${hub.url}/index.html`)).status).toBe(401);
    expect((await harness.client(hub, ALICE).get('/api/v1/llms')).status).toBe(200);
  });
});

describe.skipIf(!haveChromium)(browserSuite('the hub front page in Chromium: where the token goes'), () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('sends the token as a bearer header on every call, never in a URL, and keeps it in this tab alone', async () => {
    const hub = await harness.start();
    await harness.registrar(hub, ALICE).register([provider('llama')]);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const requests: Request[] = [];
      page.on('request', (request) => requests.push(request));
      await page.goto(`${hub.url}/`);
      await page.fill('#token', ALICE);
      await page.click('button[type=submit]');
      await page.locator('tr[data-llm="llama"]').waitFor({ timeout: 5_000 });

      const calls = requests.filter((request) => new URL(request.url()).pathname.startsWith('/api/'));
      expect(calls.map((request) => new URL(request.url()).pathname)).toContain('/api/v1/llms');
      for (const call of calls) expect(await call.headerValue('authorization'), call.url()).toBe(`Bearer ${ALICE}`);
      for (const request of requests) expect(request.url()).not.toContain(ALICE);
      expect(page.url()).toBe(`${hub.url}/`);
      expect(await page.evaluate(() => localStorage.length)).toBe(0);
      expect(await page.locator('body').innerText()).not.toContain(ALICE);

      // Another tab of the same browser asks for the token again.
      const other = await context.newPage();
      await other.goto(`${hub.url}/`);
      expect(await other.locator('#login').isVisible()).toBe(true);
      expect(await other.locator('tr[data-llm]').count()).toBe(0);
    } finally {
      await context.close();
    }
  });
});
