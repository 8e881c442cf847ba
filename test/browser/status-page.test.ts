// The status page in headless Debian Chromium (playwright-core) against a live hub and daemon: what a person
// watching it sees, updated over SSE without a reload. Screenshots land in test/browser/artifacts/ (gitignored).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, browserSuite, haveChromium, launchChromium } from '../support/chromium.ts';
import { chatStream } from '../support/cluster.ts';
import { startWatched, type Watched } from '../support/watched.ts';

describe.skipIf(!haveChromium)(browserSuite('the status page in Chromium'), () => {
  let browser: Browser;
  let stage: Watched;
  let page: Page;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    stage = await startWatched({
      // A slow model, so a task is on screen long enough to see; backoffs long enough to see too.
      providers: [{ name: 'slow-demo', type: 'demo', model: 'demo', tokenDelayMs: 120 }],
      timing: { backoffBaseMs: 600, backoffCapMs: 1_500, heartbeatMs: 200 },
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 1500 } });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await stage?.close();
  });

  const sessionState = (state: string) => page.locator(`#session-state[data-state="${state}"]`);

  it('shows the session connected and the provider active', async () => {
    await page.goto(`${stage.status.url}/`);
    await page.evaluate(() => ((window as unknown as { loadedOnce: number }).loadedOnce = 1));
    await sessionState('connected.streaming.open').waitFor({ timeout: 10_000 });
    await page.locator('[data-provider="slow-demo"] .state[data-state="active"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#session-id').textContent()).toBe(stage.tracker.sessionView()?.sessionId);
    expect(await page.locator('#live').textContent()).toBe('live');
    // The drawings light the current state of each machine.
    await page.locator('#machine-session .node.lit[data-path="connected.streaming.open"]').waitFor();
    await page.locator('[data-machine-provider="slow-demo"] .node.lit[data-path="active"]').waitFor();
  });

  it('shows a task while it runs, then lets it go', async () => {
    const words = Array.from({ length: 24 }, (_, i) => `word${i}`).join(' ');
    const call = chatStream(stage.hubUrl, { model: 'slow-demo', messages: [{ role: 'user', content: words }] });
    const row = page.locator('[data-provider="slow-demo"] tr.task');
    await row.waitFor({ timeout: 5_000 });
    expect(await row.getAttribute('data-task-id')).toMatch(/\S/);
    await page.locator('#machine-task .node.lit[data-path="running"] .count').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    const done = await call;
    expect(done.events.at(-1)).toBe('[DONE]');
    await row.waitFor({ state: 'detached', timeout: 5_000 });
    await page.locator('#transitions tr[data-to="done"]').first().waitFor();
  });

  it('shows a hub restart as backoff, then connected again, without a reload', async () => {
    await stage.stopHub();
    await page.locator('#session-state[data-state="connected.backoff"], #session-state[data-state="retrying"]').first().waitFor({ timeout: 10_000 });
    await page.locator('#session-error').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-backoff.png'), fullPage: true });
    await stage.startHub();
    await sessionState('connected.streaming.open').waitFor({ timeout: 15_000 });
    expect(await page.locator('#transitions tr[data-to="connected.backoff"]').count()).toBeGreaterThan(0);
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: number }).loadedOnce)).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-reconnected.png'), fullPage: true });
  });
});
