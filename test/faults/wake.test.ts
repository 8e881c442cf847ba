// Wake recipes failing: the http recipe answered 500 or refused, the command exiting non-zero, a recipe hanging past
// maxWaitSeconds (the command is killed). Every task waiting on the wake gets the reason; the provider goes back to
// hibernating and wakes again on the next task. And an active provider whose model server stops on its own: a task
// that finds it gone before sending anything is run again after a wake, once at most, never once text was sent.
import { readFile, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer, wake, type Stage } from '../support/fault-stage.ts';
import { finalError } from '../support/invariant.ts';
import { replyTokens, type ModelScript } from '../support/model-server.ts';

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
    expect(finalError(s.hub.results.get('t-infer'))).toBe("wake of provider 'gpu' failed: the wake request answered 500");
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
    await eventually(() => expect(finalError(s.hub.results.get('t-infer'))).toBe("wake of provider 'gpu' failed: the wake request found no one to answer it"));
    stage.check({ 't-infer': '' });
  });

  it('fails the waiting tasks with the exit code (the stderr stays in the log) when the wake command exits non-zero', async () => {
    const s = await sleeping({ type: 'command', command: process.execPath, args: ['-e', 'console.error("GPU is busy"); process.exit(7)'] });
    s.hub.send(wake('t-wake'));
    s.hub.send(infer('t-infer', 'hello'));
    await eventually(() => expect(finalError(s.hub.results.get('t-wake'))).toBeDefined());
    await eventually(() => expect(finalError(s.hub.results.get('t-infer'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-wake'))).toBe("wake of provider 'gpu' failed: the wake command exited with code 7");
    stage.check();
  });

  it('fails the waiting tasks when the wake command is not found', async () => {
    const s = await sleeping({ type: 'command', command: '/nonexistent/wake-the-gpu' });
    s.hub.send(wake('t-wake'));
    await eventually(() => expect(finalError(s.hub.results.get('t-wake'))).toBe("wake of provider 'gpu' failed: the wake command could not start"));
    stage.check();
  });
});

describe('wake hanging past maxWaitSeconds', () => {
  it('kills the wake command and fails the waiting tasks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-wake-'));
    const pidFile = join(dir, 'pid');
    // A shell, not node: it writes its pid within milliseconds even on a loaded machine, where a node child could
    // still be starting when the 300 ms ran out. `exec` keeps that pid for the command that hangs.
    const script = 'echo $$ > "$1"; exec sleep 30';
    const s = await sleeping({ type: 'command', command: '/bin/sh', args: ['-c', script, 'sh', pidFile], maxWaitSeconds: 0.3 });
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

describe('an active provider with a wake recipe losing its model server', () => {
  /**
   * A stage whose provider is active, with an http wake recipe that starts the model server again (scripted with
   * `woken` from then on); the model server then stops on its own. Counts the wakes.
   */
  async function idleShutdown(options: { model?: ModelScript; woken?: ModelScript; wakeFailsWith?: number } = {}) {
    let current: Stage | undefined;
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      if (options.wakeFailsWith !== undefined) {
        res.writeHead(options.wakeFailsWith).end('no power');
        return;
      }
      Object.assign(current!.model.script, options.woken);
      void current!.model.restart().then(() => res.writeHead(202).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    stage.cleanup(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/wake`;
    const s = (current = await stage.start({ model: options.model, provider: { wake: { type: 'http', url, maxWaitSeconds: 5 } } }));
    await eventually(() => expect(providerState(s)).toBe('active'));
    return { s, wakes: () => calls };
  }

  it('runs a task again once at most: the second unreachable upstream is its error', async () => {
    // The woken server takes the call and drops the connection before answering.
    const { s, wakes } = await idleShutdown({ woken: { closeMidStreamAfter: 0 } });
    await s.model.stop();
    s.hub.send(infer('t-twice', 'hello'));
    await eventually(() => expect(finalError(s.hub.results.get('t-twice'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-twice'))).toMatch(/cannot reach|lost mid-answer/);
    expect(wakes()).toBe(1);
    expect(s.model.requests).toHaveLength(1);
    stage.check();
  });

  it('does not run a streamed task again once some of its text was sent: the text arrives once, then the error', async () => {
    const words = Array.from({ length: 20 }, (_, i) => `w${i}`).join(' ');
    const { s, wakes } = await idleShutdown({ model: { reply: () => words, tokenDelayMs: 2, closeMidStreamAfter: 6 } });
    s.hub.send(infer('t-cut', 'go', true));
    await eventually(() => expect(finalError(s.hub.results.get('t-cut'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-cut'))).toMatch(/lost mid-answer|other side closed|terminated/);
    expect(s.model.requests).toHaveLength(1);
    expect(wakes()).toBe(0);
    stage.check({ 't-cut': replyTokens(words).slice(0, 6).join('') });
  });

  it('answers the task sent back with the reason when the wake fails', async () => {
    const { s, wakes } = await idleShutdown({ wakeFailsWith: 500 });
    await s.model.stop();
    s.hub.send(infer('t-lost', 'hello'));
    await eventually(() => expect(finalError(s.hub.results.get('t-lost'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-lost'))).toMatch(/^wake of provider 'gpu' failed: the wake request answered 500/);
    expect(wakes()).toBe(1);
    expect(providerState(s)).toBe('hibernating');
    stage.check();
  });
});
