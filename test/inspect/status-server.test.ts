// The status server: /status, /events, /metrics and /machines, fed by the daemon's own actors.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../inspect/views.ts';
import { chat, chatStream, eventually, TOKEN } from '../support/cluster.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';
import { startWatched, type Watched } from '../support/watched.ts';

let stage: Watched | undefined;
let model: ModelServer | undefined;
afterEach(async () => {
  await stage?.close();
  await model?.close();
  stage = model = undefined;
});

async function status(): Promise<StatusReport> {
  const response = await fetch(`${stage!.status.url}/status`);
  expect(response.headers.get('content-type')).toBe('application/json');
  return (await response.json()) as StatusReport;
}

async function metrics(): Promise<string> {
  const response = await fetch(`${stage!.status.url}/metrics`);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The value of one sample in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([^{\s]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.every((label) => have.includes(label))) return Number(match[3]);
  }
  return undefined;
}

describe('the status server', () => {
  it('/status shows the session with the first 8 characters of its id (never the token) and each provider with its state', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }] });
    await eventually(async () => expect((await status()).session?.connected).toBe(true));
    const report = await status();
    expect(report.service).toBe('llm-registrar');
    expect(report.phase).toBe('running');
    expect(report.hub?.url).toBe(stage.hubUrl);
    expect(report.session?.state).toBe('connected.streaming.open');
    const fullId = stage.daemon.actor!.getSnapshot().context.sessionId!;
    expect(report.session?.sessionId).toBe(fullId.slice(0, 8));
    expect(report.providers).toEqual([expect.objectContaining({ name: 'gpu', state: 'active', queue: 0, running: [], maxConcurrency: 4 })]);
    expect(report.transitions.map((t) => `${t.actor} ${t.to}`)).toEqual(expect.arrayContaining(['session registering', 'session connected.streaming.open', 'provider:gpu active']));
    const reader = (await fetch(`${stage.status.url}/events`)).body!.getReader();
    let firstEvent = '';
    while (!firstEvent.includes('\n\n')) firstEvent += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(firstEvent).toContain(`"sessionId":"${fullId.slice(0, 8)}"`);
    const everything = [JSON.stringify(report), firstEvent, await metrics(), await (await fetch(`${stage.status.url}/`)).text()].join('\n');
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(fullId);
  });

  it('shows the queue and the running tasks of a provider while they wait and run', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    model = await startOpenAiServer({ hold: () => held });
    stage = await startWatched({ providers: [{ name: 'one-at-a-time', type: 'openai', baseUrl: model.baseUrl, model: 'm', maxConcurrency: 1 }] });
    await eventually(async () => expect((await status()).providers[0]?.state).toBe('active'));
    const calls = [1, 2, 3].map((n) => chat(stage!.hubUrl, { model: 'one-at-a-time', messages: [{ role: 'user', content: `call ${n}` }] }));
    await eventually(async () => {
      const [provider] = (await status()).providers;
      expect(provider.running).toHaveLength(1);
      expect(provider.queue).toBe(2);
      expect(provider.queued).toHaveLength(2);
      expect(provider.running[0]).toEqual(expect.objectContaining({ kind: 'openai', state: 'running', streaming: false }));
    });
    const text = await metrics();
    expect(sample(text, 'llm_registrar_queue_depth', { provider: 'one-at-a-time' })).toBe(2);
    expect(sample(text, 'llm_registrar_tasks_running', { provider: 'one-at-a-time' })).toBe(1);
    release();
    for (const call of calls) expect((await call).status).toBe(200);
    await eventually(async () => expect((await status()).tasks).toEqual(expect.objectContaining({ running: 0, queued: 0, finished: 3 })));
  });

  it('keeps the last 50 transitions, oldest first, with timestamps; a task once, when it ends', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo', tokenDelayMs: 0 }] });
    await eventually(async () => expect((await status()).session?.connected).toBe(true));
    for (let i = 0; i < 55; i++) await chat(stage.hubUrl, { model: 'gpu', messages: [{ role: 'user', content: `n${i}` }] });
    const { transitions } = await status();
    expect(transitions).toHaveLength(50);
    const times = transitions.map((t) => Date.parse(t.at));
    expect(times.every((time, i) => i === 0 || time >= times[i - 1])).toBe(true);
    expect(transitions.at(-1)).toEqual(expect.objectContaining({ kind: 'task', to: 'done', event: 'task.done' }));
    expect(new Set(transitions.filter((t) => t.kind === 'task').map((t) => t.actor)).size).toBe(transitions.filter((t) => t.kind === 'task').length);
  });

  it('/metrics counts tasks by provider and outcome, their durations, first tokens and register attempts', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo', tokenDelayMs: 5 }] });
    await eventually(async () => expect((await status()).session?.connected).toBe(true));
    await chatStream(stage.hubUrl, { model: 'gpu', messages: [{ role: 'user', content: 'hello' }] });
    await chat(stage.hubUrl, { model: 'gpu', messages: [{ role: 'user', content: 'hello' }] });
    await eventually(async () => {
      const text = await metrics();
      expect(sample(text, 'llm_registrar_tasks_total', { provider: 'gpu', kind: 'openai', outcome: 'done' })).toBe(2);
      expect(sample(text, 'llm_registrar_task_duration_seconds_count', { provider: 'gpu', outcome: 'done' })).toBe(2);
      // Only the streamed call has a first token.
      expect(sample(text, 'llm_registrar_time_to_first_token_seconds_count', { provider: 'gpu' })).toBe(1);
      expect(sample(text, 'llm_registrar_register_attempts_total', { result: 'ok' })).toBe(1);
      expect(sample(text, 'llm_registrar_session_connected')).toBe(1);
      expect(sample(text, 'llm_registrar_queue_depth', { provider: 'gpu' })).toBe(0);
      expect(text).toContain('# TYPE llm_registrar_wake_duration_seconds histogram');
      expect(text).toContain('# TYPE llm_registrar_stream_reconnects_total counter');
    });
    // prom-client's default registry stays empty: the daemon's metrics live on a registry of their own.
    const { register } = await import('prom-client');
    expect(await register.getMetricsAsJSON()).not.toEqual(expect.arrayContaining([expect.objectContaining({ name: 'llm_registrar_tasks_total' })]));
  });

  it('/metrics counts reconnects and failed registers across a hub restart', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: { backoffBaseMs: 30, backoffCapMs: 100 } });
    await eventually(async () => expect((await status()).session?.connected).toBe(true));
    await stage.stopHub();
    await eventually(async () => expect(sample(await metrics(), 'llm_registrar_stream_failures_total')).toBeGreaterThanOrEqual(1));
    await stage.startHub();
    await eventually(async () => {
      const text = await metrics();
      expect(sample(text, 'llm_registrar_stream_reconnects_total')).toBe(1);
      expect(sample(text, 'llm_registrar_register_attempts_total', { result: 'ok' })).toBe(2);
      expect(sample(text, 'llm_registrar_session_connected')).toBe(1);
    });
  });

  it('/metrics times a wake, and /status shows how long it took', async () => {
    model = await startOpenAiServer({ reply: () => 'awake' });
    await model.stop();
    const waker = createServer((_request, response) => void model!.restart().then(() => response.writeHead(202).end()));
    await new Promise<void>((resolve) => waker.listen(0, '127.0.0.1', resolve));
    try {
      const wake = { type: 'http', url: `http://127.0.0.1:${(waker.address() as AddressInfo).port}/wake`, maxWaitSeconds: 5 };
      stage = await startWatched({ providers: [{ name: 'sleepy', type: 'openai', baseUrl: model.baseUrl, model: 'm', wake }] });
      await eventually(async () => expect((await status()).providers[0]?.state).toBe('hibernating'));
      expect((await chat(stage.hubUrl, { model: 'sleepy', messages: [{ role: 'user', content: 'up?' }] })).status).toBe(200);
      const [provider] = (await status()).providers;
      expect(provider.state).toBe('active');
      expect(provider.lastWakeMs).toEqual(expect.any(Number));
      const text = await metrics();
      expect(sample(text, 'llm_registrar_wake_duration_seconds_count', { provider: 'sleepy', outcome: 'ok' })).toBe(1);
      expect(sample(text, 'llm_registrar_wake_duration_seconds_sum', { provider: 'sleepy', outcome: 'ok' })).toBeGreaterThan(0);
    } finally {
      waker.close();
    }
  });

  it('/events pushes the status as it changes', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo', tokenDelayMs: 1 }] });
    await eventually(async () => expect((await status()).session?.connected).toBe(true));
    const controller = new AbortController();
    const response = await fetch(`${stage.status.url}/events`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reports: StatusReport[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const bytes of response.body!) {
        buffer += decoder.decode(bytes, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = buffer.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
          buffer = buffer.slice(end + 2);
          if (data) reports.push(JSON.parse(data.slice(6)) as StatusReport);
        }
      }
    })().catch(() => undefined);
    await eventually(() => expect(reports).toHaveLength(1));
    expect(reports[0].session?.connected).toBe(true);
    await chat(stage.hubUrl, { model: 'gpu', messages: [{ role: 'user', content: 'hi' }] });
    await eventually(() => expect(reports.at(-1)?.tasks.finished).toBe(1));
    controller.abort();
    await reading;
  });

  it('serves the page and the machine drawings, and refuses hosts other than loopback names', async () => {
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }] });
    const page = await fetch(`${stage.status.url}/`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(await page.text()).toContain("new EventSource('/events')");
    const machines = (await (await fetch(`${stage.status.url}/machines`)).json()) as Record<string, { states: { key: string }[] }>;
    expect(machines.session.states.map((s) => s.key)).toEqual(['registering', 'retrying', 'connected', 'draining', 'leaving', 'stopped']);
    expect(machines.provider.states.map((s) => s.key)).toEqual(expect.arrayContaining(['probing', 'active', 'hibernating', 'waking', 'unavailable']));
    expect(machines.task.states.map((s) => s.key)).toEqual(['queued', 'running', 'reporting', 'done', 'failed', 'cancelled']);
    expect((await fetch(`${stage.status.url}/nope`)).status).toBe(404);

    const { port } = new URL(stage.status.url);
    const rebound = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/status', headers: { host: `evil.example:${port}` } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(421);
  });
});
