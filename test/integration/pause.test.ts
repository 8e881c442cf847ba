// Pause and resume sharing end to end: a real hub, a real daemon with its status server, the CLI as a process and
// the openai SDK as the caller. A call running when the owner pauses finishes; new calls get 503 "paused by its
// owner" with Retry-After; after resume they work. The write endpoints take only the run's token, from loopback.
import OpenAI from 'openai';
import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusTokenPath } from '../../inspect/status-token.ts';
import { cli } from '../support/cli.ts';
import { chatStream, eventually, hubGet, TOKEN } from '../support/cluster.ts';
import { startWatched, type Watched } from '../support/watched.ts';

describe('pause and resume sharing', () => {
  let stage: Watched;
  let caller: OpenAI;
  const hubStatus = async () => (await hubGet(stage.hubUrl, '/api/v1/llms/slow-demo')).json?.status;

  beforeAll(async () => {
    stage = await startWatched({
      providers: [
        { name: 'slow-demo', type: 'demo', model: 'demo', tokenDelayMs: 60 },
        { name: 'other-demo', type: 'demo', model: 'demo' },
      ],
      timing: { heartbeatMs: 200 },
    });
    caller = new OpenAI({ baseURL: `${stage.hubUrl}/v1`, apiKey: TOKEN, maxRetries: 0 });
    await eventually(async () => expect(await hubStatus()).toBe('active'), 10_000);
  }, 30_000);

  afterAll(async () => {
    await stage?.close();
  });

  it('keeps the token in a 0600 file of the state dir', async () => {
    const file = await stat(statusTokenPath(stage.stateDir));
    expect(file.mode & 0o777).toBe(0o600);
  });

  it('lets a running call finish, refuses new ones with 503 "paused by its owner", and serves again after resume', async () => {
    const running = chatStream(stage.hubUrl, { model: 'slow-demo', messages: [{ role: 'user', content: Array.from({ length: 12 }, (_, i) => `w${i}`).join(' ') }] });
    await eventually(() => expect(stage.tracker.report().tasks.running).toBe(1));

    const paused = await cli(['pause', 'slow-demo', '--status-url', stage.status.url]);
    expect(paused.stderr).toBe('');
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/paused 'slow-demo'/);
    await eventually(async () => expect(await hubStatus()).toBe('paused'));

    const finished = await running;
    expect(finished.events.at(-1)).toBe('[DONE]');
    expect(finished.text).toMatch(/w11/);

    const response = await fetch(`${stage.hubUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow-demo', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/paused by its owner/);
    const refused = await caller.chat.completions.create({ model: 'slow-demo', messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    // The other provider was not named: it goes on serving.
    const other = await caller.chat.completions.create({ model: 'other-demo', messages: [{ role: 'user', content: 'still here' }] });
    expect(other.choices[0]?.message.content).toMatch(/still here/);
    expect(stage.tracker.report().providers.find((p) => p.name === 'slow-demo')?.paused).toBe(true);

    const resumed = await cli(['resume', '--status-url', stage.status.url, '--state-dir', stage.stateDir]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/resumed .*'slow-demo'/);
    await eventually(async () => expect(await hubStatus()).toBe('active'));
    const served = await caller.chat.completions.create({ model: 'slow-demo', messages: [{ role: 'user', content: 'back' }] });
    expect(served.choices[0]?.message.content).toMatch(/back/);
  }, 30_000);

  it('resumes on its own after --for', async () => {
    const answer = await write('/pause', { names: ['slow-demo'], forMs: 400 });
    expect(answer.status).toBe(200);
    expect(answer.body.until).toMatch(/T/);
    await eventually(async () => expect(await hubStatus()).toBe('paused'));
    await eventually(async () => expect(await hubStatus()).toBe('active'), 5_000);
  });

  it('refuses names it does not publish, and a --for that is not a duration', async () => {
    const unknown = await write('/pause', { names: ['nope'] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/'nope'.*published: 'slow-demo', 'other-demo'/);
    const usage = await cli(['pause', '--for', 'soon', '--status-url', stage.status.url]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--for takes a duration/);
  });

  it('refuses a write without the token, with a wrong one, from another origin and for a foreign Host', async () => {
    expect((await write('/pause', {}, { authorization: '' })).status).toBe(401);
    expect((await write('/pause', {}, { authorization: 'Bearer not-the-token' })).status).toBe(401);
    const origin = await write('/pause', {}, { origin: 'http://evil.example' });
    expect(origin.status).toBe(403);
    expect(origin.body.error).toMatch(/another origin/);
    expect((await write('/pause', {}, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await write('/pause', {}, { host: 'evil.example' })).status).toBe(421);
    expect((await write('/pause', {}, { 'content-type': 'text/plain' })).status).toBe(415);
    // None of them paused anything.
    expect(stage.tracker.report().providers.every((provider) => !provider.paused)).toBe(true);
    expect(await hubStatus()).toBe('active');
  });

  /** A raw POST (fetch would not send a forged Host). */
  function write(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const url = new URL(path, stage.status.url);
    const all: Record<string, string> = { authorization: `Bearer ${stage.statusToken}`, 'content-type': 'application/json', ...headers };
    for (const [key, value] of Object.entries(all)) if (value === '') delete all[key];
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: all }, (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text }));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }
});
