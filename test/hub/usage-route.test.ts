// Usage and metrics through a real hub: a registrar speaking openai.v1, an OpenAI-compatible upstream double and the
// official `openai` SDK as callers, all on 127.0.0.1. One ledger entry and one info line per call; a user sees their
// own calls, an admin everyone's; /metrics is Prometheus text behind the admin token.
import OpenAI from 'openai';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startOpenAiUpstream, type OpenAiUpstream } from '../support/openai-upstream.ts';
import { startWireRegistrar, type WireRegistrar } from '../support/wire-registrar.ts';
import { ADMIN, ALICE, BOB, hubHarness } from './helpers.ts';

const harness = hubHarness();
const opened: Array<OpenAiUpstream | WireRegistrar> = [];
afterEach(async () => {
  for (const thing of opened.splice(0)) await thing.close();
});

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

async function stage() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (text: string) => void lines.push(JSON.parse(text) as LogLine) });
  const upstream = await startOpenAiUpstream();
  opened.push(upstream);
  const hub = await harness.start({ logger });
  const registrar = await startWireRegistrar({ hubUrl: hub.url, token: ALICE, providers: [{ name: 'llama', model: 'tiny', upstream: upstream.baseUrl }] });
  opened.push(registrar);
  await registrar.openStream();
  const sdk = (token: string) => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: token, maxRetries: 0 });
  const get = (path: string, token = ADMIN) => fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const calls = () => lines.filter((line) => line.msg.startsWith('call '));
  return { hub, upstream, sdk, get, calls };
}

describe('the usage ledger on a real hub', () => {
  it('records one entry and logs one info line per call, with the tokens the model server reported', async () => {
    const { sdk, get, calls, upstream } = await stage();
    await sdk(BOB).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    // A stream: the registrar asked for the usage chunk, which the hub counts and this caller never sees.
    upstream.answer = () => ({
      sse: [
        { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'tiny', choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] },
        { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'tiny', choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] },
        { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'tiny', choices: [], usage: { prompt_tokens: 11, completion_tokens: 13, total_tokens: 24 } },
      ],
    });
    const seen: unknown[] = [];
    for await (const chunk of await sdk(ALICE).chat.completions.create({ model: 'llama', stream: true, messages: [{ role: 'user', content: 'hi' }] })) seen.push(chunk);
    expect(seen).toHaveLength(2);
    await expect(sdk(BOB).chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 404 });

    const lines = calls();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ level: 30, user: 'bob', model: 'llama', row: 'llama', status: 200, tokensIn: 5, tokensOut: 2 });
    expect(lines[1]).toMatchObject({ level: 30, user: 'alice', model: 'llama', row: 'llama', status: 200, tokensIn: 11, tokensOut: 13 });
    expect(lines[1]?.ttftMs).toBeTypeOf('number');
    expect(lines[2]).toMatchObject({ user: 'bob', model: 'nope', status: 404 });
    for (const line of lines) expect(JSON.stringify(line)).not.toMatch(/hi"|token-0123/);

    const body = (await (await get('/api/v1/usage?by=user')).json()) as { rows: unknown[]; scope: string };
    expect(body.scope).toBe('everyone');
    expect(body.rows).toEqual([
      { key: 'bob', calls: 2, tokensIn: 5, tokensOut: 2, errors: 1 },
      { key: 'alice', calls: 1, tokensIn: 11, tokensOut: 13, errors: 0 },
    ]);
  });

  it('estimates tokens when the model server reports none', async () => {
    const { sdk, get, upstream } = await stage();
    upstream.answer = () => ({ json: { id: 'x', object: 'chat.completion', created: 1, model: 'tiny', choices: [{ index: 0, message: { role: 'assistant', content: 'abcdefgh' }, finish_reason: 'stop' }] } });
    await sdk(BOB).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    const body = (await (await get('/api/v1/usage', BOB)).json()) as { rows: { tokensIn: number; tokensOut: number }[] };
    expect(body.rows[0]?.tokensOut).toBe(2);
    expect(body.rows[0]?.tokensIn).toBeGreaterThan(0);
  });

  it('shows a user their own calls only, and an admin everyone’s', async () => {
    const { sdk, get } = await stage();
    await sdk(BOB).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    await sdk(ALICE).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    await sdk(ALICE).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    const as = async (token: string, query: string) => (await (await get(`/api/v1/usage${query}`, token)).json()) as { scope: string; by: string; rows: { key: string; calls: number }[] };
    expect(await as(BOB, '?by=user')).toMatchObject({ scope: 'bob', by: 'user', rows: [{ key: 'bob', calls: 1 }] });
    expect(await as(BOB, '?by=model')).toMatchObject({ rows: [{ key: 'llama', calls: 1 }] });
    expect((await as(ADMIN, '?by=model')).rows).toMatchObject([{ key: 'llama', calls: 3 }]);
    expect((await as(ADMIN, `?by=user&since=${new Date(Date.now() + 60_000).toISOString()}`)).rows).toEqual([]);
  });

  it.each([
    ['?since=yesterday', 'since'],
    ['?since=400d', 'since'],
    ['?by=row', 'by'],
    ['?by=user&by=model', 'by'],
  ])('answers 400 naming the parameter for %s', async (query, param) => {
    const { get } = await stage();
    const res = await get(`/api/v1/usage${query}`, BOB);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; param: string } };
    expect(body.error.param).toBe(param);
    expect(body.error.message.startsWith(`${param}:`)).toBe(true);
  });

  it('answers 401 without a token', async () => {
    const { hub } = await stage();
    expect((await fetch(`${hub.url}/api/v1/usage`)).status).toBe(401);
    expect((await fetch(`${hub.url}/metrics`)).status).toBe(401);
  });
});

/** `name{labels} value` lines of the Prometheus text, keyed by `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    out.set(match[1] as string, Number(match[2]));
  }
  return out;
}

describe('GET /metrics on the hub', () => {
  it('counts calls by model and outcome, tokens, durations, and shows open streams and callers', async () => {
    const { sdk, get, upstream } = await stage();
    await sdk(BOB).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    await sdk(BOB).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    upstream.answer = () => ({ status: 400, json: { error: { message: 'bad', type: 'invalid_request_error', code: null, param: null } } });
    await expect(sdk(BOB).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 400 });

    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const metrics = samples(await res.text());
    expect(metrics.get('llm_hub_calls_total{model="llama",outcome="ok"}')).toBe(2);
    expect(metrics.get('llm_hub_calls_total{model="llama",outcome="400"}')).toBe(1);
    expect(metrics.get('llm_hub_tokens_total{model="llama",direction="in"}')).toBeGreaterThanOrEqual(10);
    expect(metrics.get('llm_hub_tokens_total{model="llama",direction="out"}')).toBeGreaterThanOrEqual(4);
    expect(metrics.get('llm_hub_call_duration_seconds_count{model="llama"}')).toBe(3);
    expect(metrics.get('llm_hub_registrar_streams')).toBe(1);
    expect(metrics.get('llm_hub_callers')).toBe(0);
  });

  it('refuses a token that is not an admin’s', async () => {
    const { get } = await stage();
    const res = await get('/metrics', BOB);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('llm_hub_');
  });
});
