// Hostile task frames down a real stream from the script hub: truncated JSON, wrong types, unknown kinds, NUL bytes,
// task ids that could escape a URL path, huge strings, frames above the 4 MiB limit. Nothing crashes; a frame that
// names a usable task id gets exactly one final result, an error naming what was wrong; a task id that could escape
// its path segment is never used; and the next frame still works.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { limits, TaskResult } from '../../src/protocol/index.ts';
import { eventually } from '../support/cluster.ts';
import { accountOf } from '../support/invariant.ts';
import { guardProcess } from '../support/process-guard.ts';
import { startRegistrar, WARN, type Registrar } from '../support/registrar.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

guardProcess();

// fast-check builds its tables of every code point on first use, blocking the event loop for about a second: done
// here, before any daemon runs, so the block cannot pass for a silent task stream.
fc.sample(fc.string({ unit: 'binary', maxLength: 1 }), 1);

let hub: ScriptHub;
let registrar: Registrar;

beforeAll(async () => {
  hub = await startScriptHub({ keepAliveMs: 50 });
  registrar = await startRegistrar({ hubUrl: hub.url, providers: [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }] });
  await hub.waitForStream();
});

afterAll(async () => {
  const troubles = registrar.troubles();
  await registrar.stop();
  await hub.close();
  expect(troubles).toEqual([]);
});

let serial = 0;
/** A task id no run has used: the daemon remembers finished ids and would ignore a repeat. */
const freshId = (stem = '') => `t${++serial}${stem.replace(/[^A-Za-z0-9._:-]/g, '').slice(0, 40)}`;
const TASK_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const usableId = (id: unknown): id is string => typeof id === 'string' && TASK_ID.test(id) && id !== '.' && id !== '..';

const validInfer = (taskId: string, content = 'hello', streaming = false) => ({
  kind: 'infer',
  taskId,
  llmName: 'demo',
  streaming,
  request: { messages: [{ role: 'user', content }] },
});

/** What a frame must get: one final result (`ok`, `error`, or either: `final`), or nothing at all. */
interface Expectation {
  taskId: string;
  outcome: 'ok' | 'error' | 'final' | 'none';
  /** For an error: text its message must contain (the path of the wrong field, …). */
  names?: string;
}

/** Sends the frames, then a sentinel, and waits until the daemon has answered everything it took. */
async function deliver(frames: string[]): Promise<void> {
  for (const data of frames) expect(hub.write(`event: task\ndata: ${data}\n\n`)).toBe(true);
  const sentinel = freshId('sentinel');
  hub.send(validInfer(sentinel));
  await eventually(() => expect(hub.results.get(sentinel)).toHaveLength(1));
  await eventually(() => expect(registrar.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
}

function checkExpectations(expectations: Expectation[]): void {
  for (const { taskId, outcome, names } of expectations) {
    const results = hub.results.get(taskId) ?? [];
    if (outcome === 'none') {
      expect(results, taskId).toEqual([]);
      continue;
    }
    const { account, problems } = accountOf(taskId, results);
    expect(problems, taskId).toEqual([]);
    expect(account.final, `${taskId} has a final result`).toBeDefined();
    for (const result of results) expect(v.safeParse(TaskResult, result).success, `${taskId}: a result the hub accepts`).toBe(true);
    const error = account.final && 'error' in account.final ? account.final.error : undefined;
    if (outcome === 'ok') expect(error, taskId).toBeUndefined();
    else if (outcome === 'error' || error !== undefined) {
      expect(error, taskId).toMatch(/^malformed task frame: |not registered locally|has no wake recipe/);
      if (names !== undefined) expect(error).toContain(names);
    }
  }
  // A task id that could escape its path segment never reaches the hub's URL space.
  for (const post of hub.resultPosts) expect(usableId(post.taskId), post.taskId).toBe(true);
}

const junk = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);

/** A valid frame with one field replaced by junk: answered with an error naming that field, or run if the junk fits. */
const mutated = fc
  .record({
    path: fc.constantFrom('llmName', 'streaming', 'request', 'request.messages', 'request.messages.0', 'request.messages.0.role', 'request.messages.0.content', 'request.temperature', 'request.max_tokens'),
    value: junk,
  })
  .map(({ path, value }) => {
    const taskId = freshId();
    const frame: any = validInfer(taskId);
    const keys = path.split('.');
    let holder = frame;
    for (const key of keys.slice(0, -1)) holder = holder[key];
    holder[keys.at(-1)!] = value;
    return { data: JSON.stringify(frame), expectation: { taskId, outcome: 'final' as const }, path };
  });

const unknownKind = fc
  .oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null))
  .filter((kind) => kind !== 'infer' && kind !== 'wake' && kind !== 'cancel')
  .map((kind) => {
    const taskId = freshId();
    return { data: JSON.stringify({ ...validInfer(taskId), kind }), expectation: { taskId, outcome: 'error' as const, names: 'kind: ' } };
  });

/** A valid frame cut short: answered only when the cut left its task id whole. */
const truncated = fc.tuple(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true })).map(([streaming, at]) => {
  const taskId = freshId();
  const whole = JSON.stringify(validInfer(taskId, 'cut me', streaming));
  const data = whole.slice(0, Math.floor(at * (whole.length - 1)));
  const named = data.includes(`"taskId":"${taskId}"`);
  return { data, expectation: { taskId, outcome: named ? ('error' as const) : ('none' as const), names: named ? 'not valid JSON' : undefined } };
});

/** A raw NUL byte somewhere in the JSON text: never valid JSON. */
const rawNul = fc.double({ min: 0, max: 1, noNaN: true }).map((at) => {
  const taskId = freshId();
  const whole = JSON.stringify(validInfer(taskId));
  const cut = Math.floor(at * whole.length);
  const data = `${whole.slice(0, cut)}\u0000${whole.slice(cut)}`;
  const named = data.includes(`"taskId":"${taskId}"`);
  return { data, expectation: { taskId, outcome: named ? ('error' as const) : ('none' as const) } };
});

/** Anything at all as content, NUL and lone surrogates included, escaped as JSON does: a valid frame that runs. */
const anyContent = fc.tuple(fc.string({ unit: 'binary', maxLength: 200 }), fc.boolean()).map(([content, streaming]) => {
  const taskId = freshId();
  return { data: JSON.stringify(validInfer(taskId, content, streaming)), expectation: { taskId, outcome: 'ok' as const } };
});

/** Task ids that could escape a URL path segment, or are not ids at all: logged, never used, never answered. */
const badTaskId = fc
  .oneof(
    fc.constantFrom('..', '.', '', '../../admin', 'a/b', '/etc/passwd', '%2e%2e', 'a?b=c', 'a#b', 'a b', 'x'.repeat(201), 'é'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((id) => !usableId(id)),
  )
  .chain((bad) =>
    fc.constantFrom('infer', 'wake', 'cancel').map((kind) => {
      const marker = freshId('marker');
      return {
        data: JSON.stringify({ ...validInfer(marker), kind, taskId: bad, marker }),
        expectation: { taskId: marker, outcome: 'none' as const },
        bad,
      };
    }),
  );

const frameKinds = fc.oneof(mutated, unknownKind, truncated, rawNul, anyContent, badTaskId);

describe('hostile frames (fast-check)', () => {
  it('answers each frame that names a usable task exactly once, and never crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameKinds, { minLength: 1, maxLength: 6 }), async (frames) => {
        await deliver(frames.map((frame) => frame.data));
        checkExpectations(frames.map((frame) => frame.expectation));
      }),
      { numRuns: 60 },
    );
  });

  it('names the wrong field of a mutated frame in the error', async () => {
    await fc.assert(
      fc.asyncProperty(mutated, async (frame) => {
        await deliver([frame.data]);
        checkExpectations([frame.expectation]);
        const error = (hub.results.get(frame.expectation.taskId) ?? []).map((r) => ('error' in r ? r.error : '')).join('');
        if (error.startsWith('malformed task frame: ')) expect(error).toContain(frame.path);
      }),
      { numRuns: 40 },
    );
  });

  it('logs a frame whose task id cannot be used, naming the task id as the problem', async () => {
    const before = registrar.logs.length;
    await deliver([JSON.stringify({ ...validInfer('x'), taskId: '../../escape' })]);
    const warning = registrar.logs.slice(before).find((line) => line.level === WARN && line.msg === 'malformed task frame');
    expect(warning?.error).toBe('taskId: Invalid taskId');
    expect(hub.resultPosts.some((post) => post.taskId.includes('escape'))).toBe(false);
  });
});

describe('large frames', () => {
  it('keeps the answer to a frame with a huge wrong-typed field short enough for the hub to take', async () => {
    const taskId = freshId();
    await deliver([JSON.stringify({ ...validInfer(taskId), kind: 'k'.repeat(100_000) }), JSON.stringify({ ...validInfer(freshId()), llmName: 'n'.repeat(50_000) })]);
    checkExpectations([{ taskId, outcome: 'error', names: 'kind: ' }]);
  });

  it('runs a valid frame of 3 MB (under the limit)', async () => {
    const taskId = freshId();
    await deliver([JSON.stringify(validInfer(taskId, 'y'.repeat(3 * 1024 * 1024), true))]);
    checkExpectations([{ taskId, outcome: 'ok' }]);
  });

  it.each([
    ['in one data line', (taskId: string) => `event: task\ndata: ${JSON.stringify(validInfer(taskId, 'z'.repeat(10 * 1024 * 1024)))}\n\n`],
    ['split over many data lines', (taskId: string) => `event: task\ndata: {"kind":"infer","taskId":"${taskId}",\n${'data: "pad":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",\n'.repeat(300_000)}data: "end":1}\n\n`],
    ['with CRLF line ends', (taskId: string) => `event: task\r\ndata: ${JSON.stringify(validInfer(taskId, 'z'.repeat(10 * 1024 * 1024)))}\r\n\r\n`],
  ])('cuts a 10 MB frame %s, answers its task with an error, and takes the next frame', async (_how, raw) => {
    const taskId = freshId();
    const next = freshId();
    expect(hub.write(raw(taskId))).toBe(true);
    hub.send(validInfer(next, 'right after', true));
    await eventually(() => expect(hub.results.get(next)?.at(-1)).toMatchObject({ chunk: { done: true } }));
    await eventually(() => expect(hub.results.get(taskId)).toEqual([{ error: `malformed task frame: frame larger than ${limits.maxFrameBytes} bytes` }]));
    expect(registrar.logs.some((line) => line.msg === 'task frame too large: dropped' && line.taskId === taskId)).toBe(true);
  });

  it('drops a 10 MB frame that names no task, and takes the next frame', async () => {
    const next = freshId();
    expect(hub.write(`event: task\ndata: ${'q'.repeat(10 * 1024 * 1024)}\n\n`)).toBe(true);
    hub.send(validInfer(next));
    await eventually(() => expect(hub.results.get(next)).toHaveLength(1));
    expect(hub.streamsOpened).toBe(1);
  });
});
