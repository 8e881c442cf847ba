// The status page in headless Debian Chromium (playwright-core) against a live hub and daemon: what a person
// watching it sees, updated over SSE without a reload. Screenshots land in test/browser/artifacts/ (gitignored).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, browserSuite, haveChromium, launchChromium } from '../support/chromium.ts';
import { chat, chatStream, eventually, hubGet } from '../support/cluster.ts';
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
      providers: [{ name: 'slow-demo', type: 'demo', model: 'demo', tokenDelayMs: 120, maxConcurrency: 1 }],
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
    // The drawings are folded away until asked for; open, they light the current state of each machine.
    expect(await page.locator('#machines-toggle').getAttribute('open')).toBeNull();
    expect(await page.locator('#machine-session').count()).toBe(0);
    await page.locator('#machines-toggle > summary').click();
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
    // The last minute's figures count it.
    const figures = page.locator('[data-provider="slow-demo"] .figures');
    await figures.locator('.calls b', { hasText: /^1$/ }).waitFor({ timeout: 5_000 });
    expect(await figures.locator('.errors b').textContent()).toBe('0');
    expect(await figures.locator('.p50 b').textContent()).toMatch(/\d+(\.\d)? (ms|s)/);
    await page.locator('#machines-toggle > summary').click();
  });

  it('shows the queue as a count, with the task ids on demand', async () => {
    const words = Array.from({ length: 6 }, (_, i) => `q${i}`).join(' ');
    // maxConcurrency 1: the second and third wait.
    const calls = [0, 1, 2].map(() => chatStream(stage.hubUrl, { model: 'slow-demo', messages: [{ role: 'user', content: words }] }));
    const queued = page.locator('[data-provider="slow-demo"] details.queued');
    await queued.locator('summary', { hasText: '2 waiting for a slot' }).waitFor({ timeout: 5_000 });
    expect(await queued.locator('code').first().isVisible()).toBe(false);
    await queued.locator('summary').click();
    await queued.locator('code').nth(1).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-queue.png'), fullPage: true });
    await Promise.all(calls);
    await page.locator('[data-provider="slow-demo"] .figures .calls b', { hasText: /^4$/ }).waitFor({ timeout: 5_000 });
  });

  it('pauses and resumes a provider from its button, with the status token typed in once', async () => {
    await page.locator('[data-provider="slow-demo"] button.pause').click();
    await page.locator('#control-message', { hasText: /paste the token/ }).waitFor();
    await page.locator('#token').fill(stage.statusToken);
    await page.locator('[data-provider="slow-demo"] button.pause').click();
    await page.locator('[data-provider="slow-demo"] .badge.paused').waitFor({ timeout: 5_000 });
    await eventually(async () => expect((await hubGet(stage.hubUrl, '/api/v1/llms/slow-demo')).json.status).toBe('paused'));
    const refused = await chat(stage.hubUrl, { model: 'slow-demo', messages: [{ role: 'user', content: 'hi' }] });
    expect(refused.status).toBe(503);
    expect(refused.json.error.message).toMatch(/paused by its owner/);
    expect(await page.locator('#token').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-paused.png'), fullPage: true });
    await page.locator('[data-provider="slow-demo"] button.resume').click();
    await page.locator('[data-provider="slow-demo"] .badge.paused').waitFor({ state: 'detached', timeout: 5_000 });
    await eventually(async () => expect((await hubGet(stage.hubUrl, '/api/v1/llms/slow-demo')).json.status).toBe('active'));
  });

  it('says "daemon not answering" when its event stream drops, and clears it when it is back', async () => {
    await stage.stopStatus();
    await page.locator('#offline.shown').waitFor({ timeout: 5_000 });
    expect(await page.locator('#live').textContent()).toBe('not answering');
    expect(await page.locator('#session-state').textContent()).toBe('unknown: last seen connected');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-daemon-gone.png'), fullPage: true });
    await stage.startStatus();
    await page.locator('#offline.shown').waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
    await page.locator('#offline:not(.shown)').waitFor({ state: 'attached', timeout: 5_000 });
    expect(await page.locator('#live').textContent()).toBe('live');
    await sessionState('connected.streaming.open').waitFor();
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
