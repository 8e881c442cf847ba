// What `up` and `start` say while people wait: one log line per wait without a terminal, a spinner with a countdown
// on one.
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StatusTracker, type TransitionNotice } from '../../inspect/tracker.ts';
import { Progress } from '../../src/commands/progress.ts';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { eventually, fastTiming, TOKEN } from '../support/cluster.ts';
import { captureLogs } from '../support/registrar.ts';
import { startWatched, type Watched } from '../support/watched.ts';

let daemon: Daemon | undefined;
let stage: Watched | undefined;
let stateDir: string | undefined;
afterEach(async () => {
  vi.useRealTimers();
  if (daemon) {
    daemon.drain();
    daemon.drain();
    await daemon.stopped;
  }
  await stage?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
  daemon = stage = stateDir = undefined;
});

/** A port nothing listens on: every connection to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A terminal that remembers what was drawn on it. */
function fakeTerminal() {
  const terminal = { isTTY: true, columns: 200, text: '', write: (chunk: string) => ((terminal.text += chunk), true) };
  return terminal;
}

/** The tracker's side of Progress, driven by hand. */
function fakeTracker() {
  let listener: (notice: TransitionNotice) => void = () => undefined;
  return {
    onTransition: (fn: (notice: TransitionNotice) => void) => ((listener = fn), () => undefined),
    emit: (notice: Partial<TransitionNotice>) =>
      listener({ at: new Date().toISOString(), kind: 'session', actor: 'session', from: '', to: '', event: '', status: 'active', context: {}, ...notice }),
  };
}

describe('progress while people wait', () => {
  it('logs one line per failed register, with the delay before the next try (no terminal)', async () => {
    const { logger, lines } = captureLogs();
    const tracker = new StatusTracker();
    new Progress({ spinner: false }).watch(tracker, logger);
    stateDir = await mkdtemp(join(tmpdir(), 'llmr-progress-'));
    const parsed = parseConfig(
      { hub: { url: `http://127.0.0.1:${await closedPort()}`, token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: { ...fastTiming, backoffBaseMs: 150, backoffCapMs: 300 } },
      {},
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    daemon = await startDaemon({ config: parsed.config, stateDir, logger: captureLogs().logger, follow: (actor) => tracker.follow(actor), random: () => 0.5 });
    const retries = await eventually(() => {
      const found = lines.filter((line) => line.msg.startsWith('register failed'));
      expect(found.length).toBeGreaterThanOrEqual(2);
      return found;
    });
    expect(retries[0].msg).toMatch(/^register failed, next try in \d+\.\d s \(attempt 1\): hub http:\/\/127\.0\.0\.1:\d+ unreachable/);
    expect(retries[0]).toEqual(expect.objectContaining({ level: 40, attempt: 1, delayMs: expect.any(Number) }));
    expect(retries[1].msg).toContain('(attempt 2)');
  });

  it('logs the reconnect of a task stream that was cut, with its delay', async () => {
    const { logger, lines } = captureLogs();
    stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: { backoffBaseMs: 200, backoffCapMs: 400 } });
    new Progress({ spinner: false }).watch(stage.tracker, logger);
    await eventually(() => expect(stage!.tracker.sessionView()?.connected).toBe(true));
    await stage.stopHub();
    const line = await eventually(() => {
      const found = lines.find((l) => l.msg.startsWith('task stream lost'));
      expect(found).toBeDefined();
      return found!;
    });
    expect(line.msg).toMatch(/^task stream lost, reconnecting in \d+\.\d s \(attempt 1\): .+/);
    await stage.startHub();
  });

  it('draws a spinner with a countdown on a terminal, and clears it around log lines and once connected', async () => {
    // The spinner turns on its own clock: the test moves it.
    vi.useFakeTimers();
    const terminal = fakeTerminal();
    const logs = fakeTerminal();
    const progress = new Progress({ stream: terminal, logStream: logs });
    const tracker = fakeTracker();
    progress.watch(tracker, captureLogs().logger);
    tracker.emit({ from: 'registering', to: 'retrying', context: { attempt: 3, retryDelayMs: 4_000, lastError: 'hub http://hub:4848 unreachable' } });
    expect(terminal.text).toMatch(/⠋ register failed, next try in 4\.0 s \(attempt 3\): hub http:\/\/hub:4848 unreachable/);
    await vi.advanceTimersByTimeAsync(250);
    expect(terminal.text).toMatch(/[⠙⠹⠸]/);
    expect(terminal.text).toMatch(/next try in 3\.[78] s/);

    terminal.text = '';
    progress.writeLogLine('a log line\n');
    expect(logs.text).toBe('a log line\n');
    expect(terminal.text.startsWith('\r\x1b[2K')).toBe(true);
    expect(terminal.text).toContain('register failed');

    terminal.text = '';
    tracker.emit({ from: 'connected.streaming.connecting', to: 'connected.streaming.open', context: { attempt: 0 } });
    expect(terminal.text).toBe('\r\x1b[2K');
    await vi.advanceTimersByTimeAsync(150);
    expect(terminal.text).toBe('\r\x1b[2K');
    progress.stop();
  });

  it('shows a wake while it runs and says how it ended', () => {
    const terminal = fakeTerminal();
    const progress = new Progress({ stream: terminal });
    const tracker = fakeTracker();
    progress.watch(tracker, captureLogs().logger);
    tracker.emit({ kind: 'provider', actor: 'provider:vllm', from: 'hibernating', to: 'waking.starting', context: { wakeMaxWaitMs: 60_000 } });
    expect(terminal.text).toMatch(/waking provider 'vllm': 0\.0 s so far \(gives up after 60 s\)/);
    tracker.emit({ kind: 'provider', actor: 'provider:vllm', from: 'waking.polling', to: 'active', context: { lastWakeMs: 2_300 } });
    expect(terminal.text.endsWith('\r\x1b[2K')).toBe(true);

    const { logger, lines } = captureLogs();
    const plain = new Progress({ spinner: false });
    const plainTracker = fakeTracker();
    plain.watch(plainTracker, logger);
    plainTracker.emit({ kind: 'provider', actor: 'provider:vllm', from: 'hibernating', to: 'waking.starting', context: { wakeMaxWaitMs: 60_000 } });
    plainTracker.emit({ kind: 'provider', actor: 'provider:vllm', from: 'waking.starting', to: 'hibernating', context: { lastError: 'wake of provider vllm failed: exit 1' } });
    expect(lines.map((line) => line.msg)).toEqual([
      "waking provider 'vllm': waiting up to 60 s for it to be ready",
      "provider 'vllm' did not wake: wake of provider vllm failed: exit 1",
    ]);
  });
});
