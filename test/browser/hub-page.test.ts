// The hub's front page in headless Chromium: a caller types a token, sees the LLMs it may call with their status;
// the token stays out of the URL.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, browserSuite, haveChromium, launchChromium } from '../support/chromium.ts';
import { eventually, TOKEN } from '../support/cluster.ts';
import { startWatched, type Watched } from '../support/watched.ts';

describe.skipIf(!haveChromium)(browserSuite('the hub front page in Chromium'), () => {
  let browser: Browser;
  let stage: Watched;
  let page: Page;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    stage = await startWatched({ providers: [{ name: 'team-demo', type: 'demo', model: 'demo', description: 'the demo model, for trying the hub' }] });
    await eventually(() => expect(stage.tracker.sessionView()?.connected).toBe(true));
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await stage?.close();
  });

  it('says so when the token is unknown', async () => {
    await page.goto(`${stage.hubUrl}/`);
    await page.fill('#token', 'not-a-token');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('#login-error').textContent()).toBe('the hub does not know this token');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('lists the LLMs the token may call, with their status, and keeps the token out of the URL', async () => {
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    const row = page.locator('tr[data-llm="team-demo"]');
    await row.waitFor({ timeout: 5_000 });
    expect(await row.locator('.badge').textContent()).toBe('active');
    expect(await page.locator('#curl').textContent()).toContain('"model":"team-demo"');
    expect(await page.locator('#curl').textContent()).not.toContain(TOKEN);
    expect(page.url()).toBe(`${stage.hubUrl}/`);
    expect(await page.evaluate(() => sessionStorage.getItem('llm-hub-token'))).toBe(TOKEN);
    await page.screenshot({ path: join(ARTIFACTS, 'hub-page.png'), fullPage: true });
  });

  it('refreshes on its own, and forgets the token on request', async () => {
    const updated = page.locator('#updated');
    const before = await updated.textContent();
    await expect.poll(() => updated.textContent(), { timeout: 8_000 }).not.toBe(before);
    await page.click('#forget');
    await page.locator('#login').waitFor();
    expect(await page.locator('tr[data-llm]').count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });
});
