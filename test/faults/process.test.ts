// The registrar as a real process under signals: SIGTERM with tasks running and queued (drain, then force: each
// task gets exactly one final result and the process exits 0), and SIGKILL with tasks in flight (the restarted
// process answers them `registrar restarted` and does not run them again when the hub re-sends them).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, fastTiming } from '../support/cluster.ts';
import { infer } from '../support/fault-stage.ts';
import { finalError, invariantViolations } from '../support/invariant.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';
import { guardProcess } from '../support/process-guard.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

guardProcess();

const BIN = join(import.meta.dirname, '../../bin/llm-registrar');
const children: ChildProcess[] = [];
let hub: ScriptHub | undefined;
let model: ModelServer | undefined;
let dir: string | undefined;

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await hub?.close();
  await model?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  hub = model = dir = undefined;
});

function run(config: string, stateDir: string) {
  const child = spawn(process.execPath, [BIN, 'start', '--config', config, '--state-dir', stateDir, '--log-level', 'debug'], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (data) => (output += data));
  child.stderr!.on('data', (data) => (output += data));
  // 'close', not 'exit': the output read after it is all there.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => output };
}

/** What a healthy daemon never prints: a crash, an unhandled rejection, a fatal log line. */
function expectNoCrash(output: string): void {
  expect(output).not.toMatch(/unhandled|uncaught|"level":60/i);
}

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
const taskIds = (frames: unknown[]) => frames.map((frame) => (frame as { taskId: string }).taskId);

async function setUp(timing: Record<string, number>) {
  dir = await mkdtemp(join(tmpdir(), 'llmr-proc-'));
  hub = await startScriptHub({ keepAliveMs: 50 });
  model = await startOpenAiServer({ reply: () => words(10), tokenDelayMs: 20 });
  const config = join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      hub: { url: hub.url, token: 'process-token' },
      providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm', maxConcurrency: 1 }],
      timing: { ...fastTiming, ...timing },
    }),
  );
  return { config, stateDir: join(dir, 'state') };
}

describe('signals', () => {
  it('on SIGTERM with tasks running and queued, finishes what it can, fails the rest, answers each once and exits 0', async () => {
    const { config, stateDir } = await setUp({ drainMs: 300 });
    const daemon = run(config, stateDir);
    await hub!.waitForStream();
    hub!.send(infer('t-running', 'go', true));
    hub!.send(infer('t-queued-1', 'go'));
    hub!.send(infer('t-queued-2', 'go', true));
    await eventually(() => expect(model!.requests).toHaveLength(1));
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.output()).toMatch(/draining/);
    expectNoCrash(daemon.output());
    // The running one had 200 ms of work left: it finishes. The last one cannot start before the deadline.
    expect(finalError(hub!.results.get('t-running'))).toBeUndefined();
    expect(finalError(hub!.results.get('t-queued-2'))).toMatch(/shutting down/);
    expect(invariantViolations({ received: taskIds(hub!.sent), results: hub!.results, text: { 't-running': words(10) } })).toEqual([]);
  });

  it('after SIGKILL with tasks in flight, the restarted process answers them `registrar restarted` and does not run them again', async () => {
    const { config, stateDir } = await setUp({});
    const first = run(config, stateDir);
    await hub!.waitForStream();
    hub!.send(infer('t-running', 'go', true));
    hub!.send(infer('t-queued', 'go'));
    await eventually(async () => {
      const facts = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')).facts;
      expect(facts.inFlight.map((task: { taskId: string }) => task.taskId).sort()).toEqual(['t-queued', 't-running']);
    });
    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const requestsBefore = model!.requests.length;

    const second = run(config, stateDir);
    await eventually(() => expect(finalError(hub!.results.get('t-queued'))).toBe('registrar restarted'), 10_000);
    await eventually(() => expect(finalError(hub!.results.get('t-running'))).toBe('registrar restarted'));
    await eventually(() => expect(hub!.streamsOpened).toBe(2), 10_000);
    await hub!.waitForStream();
    // The hub re-sends what it handed out: nothing runs twice, nothing is answered twice.
    hub!.send(infer('t-running', 'go', true));
    hub!.send(infer('t-queued', 'go'));
    hub!.send(infer('t-new', 'go'));
    await eventually(() => expect(hub!.results.get('t-new')).toHaveLength(1));
    expect(model!.requests.length).toBe(requestsBefore + 1);
    expect(second.output()).toMatch(/answering tasks that were in flight/);
    expect(registeredSessions()).toEqual([undefined, 'script-session']);
    expect(invariantViolations({ received: taskIds(hub!.sent), results: hub!.results, text: { 't-new': words(10) } })).toEqual([]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expectNoCrash(first.output() + second.output());
  });
});

const registeredSessions = () => hub!.registers.map((register) => register.providerSessionId);
