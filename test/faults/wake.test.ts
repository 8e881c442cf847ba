// Wake recipes failing: the http recipe answered 500 or refused, the command exiting non-zero, a recipe hanging past
// maxWaitSeconds (the command is killed). Every task waiting on the wake gets the reason; the provider goes back to
// hibernating and wakes again on the next task.
import { readFile, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer, wake } from '../support/fault-stage.ts';
import { finalError } from '../support/invariant.ts';

const stage = faultStage();
const providerState = (s: { registrar: { daemon: { actor?: { getSnapshot(): any } } } }) =>
  s.registrar.daemon.actor!.getSnapshot().children['provider:gpu'].getSnapshot().value;

/** A wake endpoint answering with `status` (or never, for 0); counts its calls. */
async function wakeEndpoint(status: number): Promise<{ url: string; calls: () => number; server: Server }> {
  let calls = 0;
  const server = createServer((_req, res) => {
    calls++;
    if (status !== 0) res.writeHead(status).end('no power');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stage.cleanup(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/wake`, calls: () => calls, server };
}

/** A stage whose model server is down and whose provider wakes with `recipe`. */
async function sleeping(recipe: Record<string, unknown>) {
  const s = await stage.start({ provider: { wake: { maxWaitSeconds: 5, ...recipe } }, modelStopped: true });
  await eventually(() => expect(providerState(s)).toBe('hibernating'));
  return s;
}

describe('wake failing', () => {
  it('fails the waiting tasks with the status when the http recipe is answered 500, and tries again on the next task', async () => {
    const endpoint = await wakeEndpoint(500);
    const s = await sleeping({ type: 'http', url: endpoint.url });
    s.hub.send(wake('t-wake'));
    s.hub.send(infer('t-infer', 'hello'));
    await eventually(() => expect(finalError(s.hub.results.get('t-infer'))).toBeDefined());
    await eventually(() => expect(finalError(s.hub.results.get('t-wake'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-infer'))).toBe(`wake of provider 'gpu' failed: wake request to ${endpoint.url} answered 500`);
    expect(endpoint.calls()).toBe(1);
    await eventually(() => expect(providerState(s)).toBe('hibernating'));
    s.hub.send(infer('t-again', 'hello'));
    await eventually(() => expect(finalError(s.hub.results.get('t-again'))).toBeDefined());
    expect(endpoint.calls()).toBe(2);
    stage.check();
  });

  it('fails the waiting tasks when the http recipe cannot reach its endpoint', async () => {
    const endpoint = await wakeEndpoint(200);
    await new Promise<void>((resolve) => endpoint.server.close(() => resolve()));
    const s = await sleeping({ type: 'http', url: endpoint.url });
    s.hub.send(infer('t-infer', 'hello', true));
    await eventually(() => expect(finalError(s.hub.results.get('t-infer'))).toMatch(/wake request to .* failed: .*ECONNREFUSED/));
    stage.check({ 't-infer': '' });
  });

  it('fails the waiting tasks with the exit code and stderr when the wake command exits non-zero', async () => {
    const s = await sleeping({ type: 'command', command: process.execPath, args: ['-e', 'console.error("GPU is busy"); process.exit(7)'] });
    s.hub.send(wake('t-wake'));
    s.hub.send(infer('t-infer', 'hello'));
    await eventually(() => expect(finalError(s.hub.results.get('t-wake'))).toBeDefined());
    await eventually(() => expect(finalError(s.hub.results.get('t-infer'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-wake'))).toMatch(/exited with code 7: GPU is busy/);
    stage.check();
  });

  it('fails the waiting tasks when the wake command is not found', async () => {
    const s = await sleeping({ type: 'command', command: '/nonexistent/wake-the-gpu' });
    s.hub.send(wake('t-wake'));
    await eventually(() => expect(finalError(s.hub.results.get('t-wake'))).toMatch(/could not start: .*ENOENT/));
    stage.check();
  });
});

describe('wake hanging past maxWaitSeconds', () => {
  it('kills the wake command and fails the waiting tasks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-wake-'));
    const pidFile = join(dir, 'pid');
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`;
    const s = await sleeping({ type: 'command', command: process.execPath, args: ['-e', script], maxWaitSeconds: 0.3 });
    s.hub.send(infer('t-infer', 'hello'));
    const pid = await eventually(async () => Number(await readFile(pidFile, 'utf8')));
    expect(() => process.kill(pid, 0)).not.toThrow();
    await eventually(() => expect(finalError(s.hub.results.get('t-infer'))).toBe("provider 'gpu' did not become ready within 300 ms of its wake"));
    await eventually(() => expect(() => process.kill(pid, 0)).toThrow(/ESRCH/));
    expect(providerState(s)).toBe('hibernating');
    stage.check();
  });

  it('gives up on an http recipe that never answers', async () => {
    const endpoint = await wakeEndpoint(0);
    const s = await sleeping({ type: 'http', url: endpoint.url, maxWaitSeconds: 0.2 });
    s.hub.send(wake('t-wake'));
    await eventually(() => expect(finalError(s.hub.results.get('t-wake'))).toBe("provider 'gpu' did not become ready within 200 ms of its wake"));
    stage.check();
  });

  it('gives up when the recipe succeeds but the model never becomes ready', async () => {
    const s = await sleeping({ type: 'command', command: process.execPath, args: ['-e', 'process.exit(0)'], maxWaitSeconds: 0.2 });
    s.hub.send(infer('t-infer', 'hello'));
    await eventually(() => expect(finalError(s.hub.results.get('t-infer'))).toBe("provider 'gpu' did not become ready within 200 ms of its wake"));
    stage.check();
  });
});
