// `--inspect`: every actor of the daemon reaches the Stately inspector, through a bridge that listens on 127.0.0.1.
import { request } from 'node:http';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { afterEach, describe, expect, it } from 'vitest';
import { createStatelyInspector } from '../../inspect/stately.ts';
import { chatStream, eventually, TOKEN } from '../support/cluster.ts';
import { startWatched, type Watched } from '../support/watched.ts';

let stage: Watched | undefined;
afterEach(async () => {
  await stage?.close();
  stage = undefined;
});

const SECRET_PROMPT = 'the secret plan is in the drawer';

/** Reads an SSE response until `enough` says so; returns the data payloads. */
async function readEvents(url: string, enough: (events: StatelyInspectionEvent[]) => boolean): Promise<StatelyInspectionEvent[]> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  const events: StatelyInspectionEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const bytes of response.body!) {
      buffer += decoder.decode(bytes, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith('data: ')) events.push(JSON.parse(block.slice(6)) as StatelyInspectionEvent);
      }
      if (enough(events)) break;
    }
  } finally {
    controller.abort();
  }
  return events;
}

describe('the Stately inspector (--inspect)', () => {
  it('receives actor, snapshot and event records of the supervisor, the session, each provider and each task', async () => {
    const seen: StatelyInspectionEvent[] = [];
    const inspector = await createStatelyInspector((event) => seen.push(event));
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo', tokenDelayMs: 1 }], inspect: inspector.inspect });
    await eventually(() => expect(stage!.tracker.sessionView()?.connected).toBe(true));
    const call = await chatStream(stage.hubUrl, { model: 'gpu', messages: [{ role: 'user', content: SECRET_PROMPT }] });
    expect(call.events.at(-1)).toBe('[DONE]');

    await eventually(() => {
      const actors = seen.filter((event) => event.type === '@xstate.actor');
      const names = actors.map((event) => (event as { name: string }).name);
      expect(names).toEqual(expect.arrayContaining(['session', 'provider:gpu']));
      // A provider's task actors are named by reused slot ids (machines/records.ts TaskSlots); the task id is in the context.
      const task = actors.find((event) => /^task:\d+$/.test((event as { name: string }).name));
      expect(task, 'a task actor was announced').toBeDefined();
      // Each actor's state changes reach the inspector as snapshots of that actor.
      for (const actor of [...actors.filter((a) => ['session', 'provider:gpu'].includes((a as { name: string }).name)), task!]) {
        expect(seen.some((event) => event.type === '@xstate.snapshot' && event.sessionId === actor.sessionId)).toBe(true);
      }
      const taskSnapshots = seen.filter((event) => event.type === '@xstate.snapshot' && event.sessionId === task!.sessionId);
      expect(taskSnapshots.map((event) => (event as { snapshot: { value: unknown } }).snapshot.value)).toEqual(expect.arrayContaining(['running', 'done']));
      expect(seen.some((event) => event.type === '@xstate.event' && (event as { event: { type: string } }).event.type === 'stream.task')).toBe(true);
    });
    // The inspector UI is a page from stately.ai: the caller's prompt and the model's answer stay out of it.
    const text = JSON.stringify(seen);
    expect(text).not.toContain(SECRET_PROMPT);
    expect(text).not.toContain('You said');
    expect(text).not.toContain(TOKEN);
  });

  it('serves a bridge page and its event stream on 127.0.0.1 only, replaying the live actors to a late browser', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], stately: true });
    const bridge = stage.stately!;
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await eventually(() => expect(stage!.tracker.sessionView()?.connected).toBe(true));

    const page = await fetch(bridge.url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('https://stately.ai/inspect');
    expect(html).toContain("new EventSource('/events')");

    const events = await readEvents(`${bridge.url}events`, (list) =>
      ['session', 'provider:gpu'].every((name) => list.some((event) => event.type === '@xstate.actor' && (event as { name: string }).name === name)),
    );
    expect(events[0].type).toBe('@xstate.actor');

    const rebound = await new Promise<number>((resolve, reject) => {
      request(bridge.url, { headers: { host: 'attacker.example' } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(421);
  });

  it('sends a page that nothing may frame, and answers only GET and HEAD', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], stately: true });
    const bridge = stage.stately!;
    const page = await fetch(bridge.url);
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toContain('frame-src https://stately.ai');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const head = await fetch(bridge.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['', 'events']) {
        const refused = await fetch(`${bridge.url}${path}`, { method, body: method === 'DELETE' ? undefined : '{}' });
        expect(refused.status, `${method} /${path}`).toBe(405);
        expect(refused.headers.get('allow')).toBe('GET, HEAD');
      }
    }
  });

  it('never shows the hub session id in full to the inspector', async () => {
    const seen: StatelyInspectionEvent[] = [];
    const inspector = await createStatelyInspector((event) => seen.push(event));
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], inspect: inspector.inspect });
    await eventually(() => expect(stage!.tracker.sessionView()?.connected).toBe(true));
    const fullId = (stage.daemon.actor!.getSnapshot().context.sessionId as string);
    expect(fullId.length).toBeGreaterThan(8);
    const text = JSON.stringify(seen);
    expect(text).not.toContain(fullId);
    expect(text).toContain(`"sessionId":"${fullId.slice(0, 8)}"`);
    // xstate's own actor ids, at the top of each event, are what the inspector joins events by: kept whole.
    expect(seen.every((event) => typeof event.sessionId === 'string' && event.sessionId.startsWith('x:'))).toBe(true);
  });
});
