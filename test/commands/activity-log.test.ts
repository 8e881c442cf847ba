// What start and up say at info level, from the tracker's transitions: live, live again after a drop, one line per
// finished call (a failed one at warn, with its error); and the --inspect warning when stately.ai cannot be reached.
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { TransitionNotice } from '../../inspect/tracker.ts';
import type { PublishedRow } from '../../inspect/views.ts';
import { liveLine, logActivity } from '../../src/commands/activity-log.ts';
import { checkInspectorReachable } from '../../src/commands/inspector-reach.ts';
import { captureLogs, WARN } from '../support/registrar.ts';

function fakeTracker(published: PublishedRow[] = []) {
  let listener: (notice: TransitionNotice) => void = () => undefined;
  return {
    published: () => published,
    onTransition: (fn: (notice: TransitionNotice) => void) => ((listener = fn), () => undefined),
    emit: (notice: Partial<TransitionNotice>) =>
      listener({ at: new Date().toISOString(), kind: 'session', actor: 'session', from: '', to: '', event: '', status: 'active', context: {}, ...notice }),
  };
}

const taskEnd = (taskId: string, outcome: string, result: unknown, receivedAt = Date.now() - 1_500): Partial<TransitionNotice> => ({
  kind: 'task',
  actor: taskId,
  from: 'reporting',
  to: outcome,
  status: 'done',
  context: { taskId, llmName: 'gpu', frame: { kind: 'infer', taskId, llmName: 'gpu', streaming: true }, receivedAt, result },
});

describe('the activity log', () => {
  it('says live once, then live again after the stream came back, with how long it was gone', () => {
    const { logger, lines } = captureLogs();
    const tracker = fakeTracker([{ name: 'gpu', type: 'openai', model: 'm', visibility: 'public', poolName: 'team' }]);
    logActivity({ tracker, logger, hubUrl: 'http://hub:4848' });
    tracker.emit({ from: 'connected.streaming.connecting', to: 'connected.streaming.open' });
    tracker.emit({ from: 'connected.streaming.open', to: 'connected.backoff' });
    tracker.emit({ from: 'connected.backoff', to: 'connected.streaming.connecting' });
    tracker.emit({ from: 'connected.streaming.connecting', to: 'connected.streaming.open' });
    expect(lines.map((line) => line.msg)).toEqual([
      `live on http://hub:4848: publishing 'gpu' (public: every token of the hub; pool 'team'); callers POST http://hub:4848/v1/chat/completions with "model": "team"`,
      expect.stringMatching(/^live again on http:\/\/hub:4848 after \d+ ms$/),
    ]);
  });

  it('logs a finished call with its short id and first token, a failed one at warn with the error', () => {
    const { logger, lines } = captureLogs();
    const tracker = fakeTracker();
    const activity = logActivity({ tracker, logger, hubUrl: 'http://hub:4848' });
    activity.firstToken('0123456789abcdef', 42);
    tracker.emit(taskEnd('0123456789abcdef', 'done', { chunk: { data: '[DONE]', done: true } }));
    tracker.emit(taskEnd('fedcba9876543210', 'failed', { error: 'upstream answered 500' }));
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [30, "call 01234567 on 'gpu': done in 1.5 s, first token after 42 ms"],
      [WARN, "call fedcba98 on 'gpu': failed in 1.5 s: upstream answered 500"],
    ]);
    expect(lines[0]).toEqual(expect.objectContaining({ task: '01234567', provider: 'gpu', outcome: 'done', firstTokenMs: 42 }));
  });

  it('names a private row as yours alone', () => {
    expect(liveLine('http://hub/', [{ name: 'a', type: 'demo', model: 'demo', visibility: 'private' }])).toBe(
      `live on http://hub: publishing 'a' (private: your token alone); callers POST http://hub/v1/chat/completions with "model": "a"`,
    );
  });
});

describe('--inspect without stately.ai', () => {
  it('warns that the inspector needs the site when it cannot be reached, and says nothing when it can', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const { logger, lines } = captureLogs();
    expect(await checkInspectorReachable(`http://127.0.0.1:${port}/inspect`, logger)).toBe(false);
    expect(lines).toEqual([expect.objectContaining({ level: WARN, msg: expect.stringContaining(`the Stately inspector needs http://127.0.0.1:${port}/inspect, which this machine cannot reach (ECONNREFUSED)`) })]);

    const site = createServer((_request, response) => response.writeHead(302, { location: '/elsewhere' }).end());
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    try {
      const quiet = captureLogs();
      expect(await checkInspectorReachable(`http://127.0.0.1:${(site.address() as { port: number }).port}/inspect`, quiet.logger)).toBe(true);
      expect(quiet.lines).toEqual([]);
    } finally {
      site.close();
    }
  });
});
