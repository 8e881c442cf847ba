// The registrar's half of "a hub a team can trust" (issue 9), on a real daemon against the script hub: a session id
// the hub says is another user's is forgotten at once, an id that cannot travel in a header is refused, and no
// redirect is followed (it would carry the token to wherever it points).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer } from '../support/fault-stage.ts';
import { startRegistrar, type Registrar } from '../support/registrar.ts';
import { startScriptHub, type HubScript, type ScriptHub } from '../support/script-hub.ts';

const stage = faultStage();
const ALICES_ID = 'alice-0123456789abcdef-session';
const demo = [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }];

async function stateDirWithSession(sessionId: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-trust-'));
  const facts = { sessionId, providers: {}, inFlight: [] };
  await writeFile(join(dir, 'state.json'), JSON.stringify({ version: 1, savedAt: new Date().toISOString(), facts }), { mode: 0o600 });
  return dir;
}

const persistedSessionId = async (dir: string) => JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).facts.sessionId as string | undefined;

async function daemon(script: HubScript, options: { stateDir?: string; timing?: Record<string, number> } = {}): Promise<{ hub: ScriptHub; registrar: Registrar }> {
  const hub = await startScriptHub({ keepAliveMs: 50, ...script });
  const registrar = await startRegistrar({ hubUrl: hub.url, providers: demo, ...options });
  stage.cleanup(async () => {
    expect(registrar.troubles()).toEqual([]);
    await registrar.stop();
    await hub.close();
    // Only once the daemon has stopped writing in it.
    if (options.stateDir) await rm(options.stateDir, { recursive: true, force: true });
  });
  return { hub, registrar };
}

/** A server elsewhere that a redirect points to: it records every request that reaches it. */
async function elsewhere(): Promise<{ url: string; requests: http.IncomingHttpHeaders[] }> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ providerSessionId: 'stolen' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stage.cleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://user:hunter2@127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/llms/_provider-register`, requests };
}

const redirectTo = (location: string) => ({ status: 307, body: '', headers: { location } });
const logText = (registrar: Registrar) => registrar.logs.map((line) => JSON.stringify(line)).join('\n');

describe('a session id that belongs to another user (403)', () => {
  it('is forgotten, here and in the state file, and the registrar registers afresh at once, saying so once', async () => {
    const stateDir = await stateDirWithSession(ALICES_ID);
    // A backoff of a minute: a register that waited for it would not come within the test's time.
    const { hub, registrar } = await daemon(
      { register: (body) => (body.providerSessionId ? { status: 403, body: JSON.stringify({ error: { message: 'session belongs to another user' } }) } : 201) },
      { stateDir, timing: { backoffBaseMs: 60_000, backoffCapMs: 60_000 } },
    );
    await hub.waitForStream();
    expect(hub.registers.map((body) => body.providerSessionId)).toEqual([ALICES_ID, undefined]);
    await eventually(async () => expect(await persistedSessionId(stateDir)).toBe('script-session'));
    const said = registrar.logs.filter((line) => /belongs to another user: forgetting it and registering afresh/.test(line.msg));
    expect(said).toHaveLength(1);
    expect(said[0].msg).toContain(ALICES_ID.slice(0, 8));
    expect(logText(registrar)).not.toContain(ALICES_ID);
    hub.send(infer('t-1', 'hello', false, 'demo'));
    await eventually(() => expect(hub.results.get('t-1')?.[0]).toMatchObject({ status: 200 }));
  });

  it('drops the persisted copy even while the fresh register cannot get through', async () => {
    const stateDir = await stateDirWithSession(ALICES_ID);
    const { hub } = await daemon({ register: (body) => (body.providerSessionId ? 403 : 503) }, { stateDir });
    await eventually(() => expect(hub.registers.length).toBeGreaterThanOrEqual(3));
    expect(hub.registers.slice(1).every((body) => body.providerSessionId === undefined)).toBe(true);
    await eventually(async () => expect(await persistedSessionId(stateDir)).toBeUndefined());
  });
});

describe('a session id that cannot travel in a header', () => {
  it.each([
    ['a newline', 'abc\r\nx-injected: yes'],
    ['over 200 characters', 'x'.repeat(201)],
    ['a space', 'two words'],
  ])('with %s is refused with a clear log line and the register retried with backoff', async (_what, badId) => {
    let offers = 0;
    const { hub, registrar } = await daemon({
      register: () => (offers++ === 0 ? { status: 201, body: JSON.stringify({ providerSessionId: badId }) } : 201),
    });
    await hub.waitForStream();
    expect(hub.registers).toHaveLength(2);
    expect(registrar.retries[0].error).toMatch(/the hub's register answer has a providerSessionId that cannot travel in a header \(.+\): refused/);
    expect(registrar.logs.some((line) => /cannot travel in a header/.test(String(line.reason ?? line.msg)))).toBe(true);
    expect(logText(registrar)).not.toContain(badId);
  });
});

describe('a hub URL that redirects', () => {
  it('is not followed on register, and the log says why', async () => {
    const other = await elsewhere();
    const { hub, registrar } = await daemon({ register: () => (hub.registers.length === 1 ? redirectTo(other.url) : 201) });
    await hub.waitForStream();
    expect(other.requests).toEqual([]);
    expect(registrar.retries[0].error).toMatch(/register: the hub answered 307, a redirect to http:\/\/\*\*\*@127\.0\.0\.1:\d+\/.*not followed, since a hub URL that redirects elsewhere would carry the token there/);
    expect(logText(registrar)).not.toContain('hunter2');
  });

  it('is not followed on the task stream', async () => {
    const other = await elsewhere();
    let streams = 0;
    const { hub, registrar } = await daemon({ stream: () => (streams++ === 0 ? redirectTo(other.url) : 200) });
    await hub.waitForStream();
    expect(other.requests).toEqual([]);
    expect(registrar.retries[0].error).toMatch(/^task stream: the hub answered 307, a redirect .* not followed/);
  });

  it('is not followed on a heartbeat', async () => {
    const other = await elsewhere();
    const { hub, registrar } = await daemon({ heartbeat: () => redirectTo(other.url) });
    await eventually(() => expect(registrar.logs.some((line) => line.msg === 'heartbeat failed' && /heartbeat: the hub answered 307, a redirect .* not followed/.test(String(line.err)))).toBe(true));
    expect(hub.heartbeats).toBeGreaterThan(0);
    expect(other.requests).toEqual([]);
  });

  it('is not followed on a result, which is reported lost with the reason', async () => {
    const other = await elsewhere();
    const { hub, registrar } = await daemon({ result: () => redirectTo(other.url) });
    await hub.waitForStream();
    hub.send(infer('t-redirected', 'hello', false, 'demo'));
    await eventually(() => expect(registrar.logs.some((line) => line.msg === 'task result lost' && /result of task t-redirected: the hub answered 307, a redirect .* not followed/.test(String(line.err)))).toBe(true));
    expect(other.requests).toEqual([]);
  });
});
