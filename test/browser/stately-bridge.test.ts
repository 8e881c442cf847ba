// The `--inspect` bridge page in headless Chromium, framing a stand-in for the Stately inspector on another origin:
// the page takes the inspector's handshake from that frame alone, and posts the actors' events to it alone.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { startStatelyBridge, type StatelyBridge } from '../../inspect/stately.ts';
import { browserSuite, haveChromium, launchChromium } from '../support/chromium.ts';

/** What the stand-in inspector does: records every message it gets, and says it is connected when told to. */
const INSPECTOR_PAGE = `<!DOCTYPE html><html><body><script>
  window.received = [];
  window.addEventListener('message', (message) => window.received.push({ origin: message.origin, type: message.data && message.data.type }));
  window.connect = () => parent.postMessage({ type: '@statelyai.connected' }, '*');
</script></body></html>`;

describe.skipIf(!haveChromium)(browserSuite('the Stately bridge page in Chromium'), () => {
  let browser: Browser;
  let inspector: http.Server;
  let inspectorOrigin: string;
  let bridge: StatelyBridge;
  let page: Page;

  beforeAll(async () => {
    inspector = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(INSPECTOR_PAGE));
    await new Promise<void>((resolve) => inspector.listen(0, '127.0.0.1', resolve));
    inspectorOrigin = `http://127.0.0.1:${(inspector.address() as AddressInfo).port}`;
    bridge = await startStatelyBridge({ port: 0, inspectorUrl: `${inspectorOrigin}/inspect` });
    // A machine watched by the bridge, so it has actor events to hand over.
    createActor(createMachine({ id: 'watched', initial: 'idle', states: { idle: {} } }), { inspect: bridge.inspect }).start();
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(bridge.url);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await bridge?.close();
    await new Promise((resolve) => inspector?.close(resolve));
  });

  const inspectorFrame = async (): Promise<Frame> => {
    for (;;) {
      const frame = page.frames().find((candidate) => candidate.url().startsWith(inspectorOrigin));
      if (frame && (await frame.evaluate(() => 'received' in window).catch(() => false))) return frame;
      await page.waitForTimeout(20);
    }
  };
  const received = (frame: Frame) => frame.evaluate(() => (window as unknown as { received: { origin: string; type: string }[] }).received);

  it('ignores a handshake from any window but the inspector frame', async () => {
    const frame = await inspectorFrame();
    // The page's own window (as a page that opened this one could do through window.opener) fakes the handshake.
    await page.evaluate(() => window.postMessage({ type: '@statelyai.connected' }, '*'));
    await page.waitForTimeout(200);
    expect(await page.locator('#note').count()).toBe(1);
    expect(await received(frame)).toEqual([]);
  });

  it('posts the actors to the inspector frame, on its origin, once the inspector says it is connected', async () => {
    const frame = await inspectorFrame();
    await frame.evaluate(() => (window as unknown as { connect(): void }).connect());
    await page.locator('#note').waitFor({ state: 'detached' });
    await expect.poll(async () => (await received(frame)).map((message) => message.type)).toContain('@xstate.actor');
    expect((await received(frame)).every((message) => message.origin === new URL(bridge.url).origin)).toBe(true);
  });
});
