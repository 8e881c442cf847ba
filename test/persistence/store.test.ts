// The state file: round trip, private modes, a file that cannot be trusted set aside, writes coalesced and
// atomic, and an unwritable directory that costs one log line, never a crash.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSnapshotStore, STATE_VERSION, type PersistedFacts } from '../../src/persistence/store.ts';

// Counts the renames the store makes: one per write of the state file.
const renames = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    rename: (...args: Parameters<typeof actual.rename>) => {
      renames.count++;
      return actual.rename(...args);
    },
  };
});

type LogLine = { level: number; msg: string; reason?: string; movedTo?: string };
const WARN = 40;
const ERROR = 50;

function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, at: (level: number) => lines.filter((line) => line.level === level) };
}

const facts: PersistedFacts = {
  sessionId: 'sess-1',
  providers: { qwen: 'active', llama: 'hibernating' },
  inFlight: [{ taskId: 'task-1', llmName: 'qwen' }],
};

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'llm-registrar-state-'));
  renames.count = 0;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function badFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith('state.json.bad-'));
}

describe('SnapshotStore', () => {
  it('gives back what it saved, in a versioned file', async () => {
    const { logger } = capturingLogger();
    const store = createSnapshotStore(root, logger);
    store.save(facts);
    await store.flush();
    expect(await createSnapshotStore(root, logger).load()).toEqual(facts);
    const onDisk = JSON.parse(await readFile(store.path, 'utf8'));
    expect(onDisk).toMatchObject({ version: STATE_VERSION, facts });
    expect(new Date(onDisk.savedAt).toISOString()).toBe(onDisk.savedAt);
  });

  it('returns nothing, quietly, on a first start', async () => {
    const { logger, lines } = capturingLogger();
    expect(await createSnapshotStore(join(root, 'never-created'), logger).load()).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('writes the file with mode 0600 in a directory it creates with mode 0700', async () => {
    const dir = join(root, 'a', 'state');
    const store = createSnapshotStore(dir, capturingLogger().logger);
    store.save(facts);
    await store.flush();
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('keeps the mode 0600 even over a temp file left behind with another mode', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger);
    await writeFile(`${store.path}.tmp-${process.pid}`, 'left by a crash', { mode: 0o644 });
    store.save(facts);
    await store.flush();
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    expect(await readdir(root)).toEqual(['state.json']);
  });

  it('writes on its own after the debounce, without a flush', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger, { debounceMs: 5 });
    store.save(facts);
    await vi.waitFor(async () => expect(JSON.parse(await readFile(store.path, 'utf8')).facts).toEqual(facts), { timeout: 2_000, interval: 5 });
  });

  describe('sets aside a file it cannot trust, warns, and starts fresh', () => {
    const cases: [string, (valid: string) => string, RegExp][] = [
      ['corrupt', () => 'garbage{', /not valid JSON/],
      ['truncated', (valid) => valid.slice(0, Math.floor(valid.length / 2)), /not valid JSON/],
      ['of another version', (valid) => valid.replace(`"version":${STATE_VERSION}`, '"version":2'), /format version 2/],
      ['without a version', (valid) => valid.replace(`"version":${STATE_VERSION},`, ''), /format version missing/],
      ['of the wrong shape', (valid) => valid.replace('"hibernating"', '"sleeping"'), /unexpected content: facts\.providers\.llama/],
    ];
    it.each(cases)('%s', async (_name, damage, reason) => {
      const { logger, at } = capturingLogger();
      const store = createSnapshotStore(root, logger);
      store.save(facts);
      await store.flush();
      const damaged = damage(await readFile(store.path, 'utf8'));
      await writeFile(store.path, damaged);

      expect(await store.load()).toBeUndefined();

      const [bad] = await badFiles(root);
      expect(bad).toBeDefined();
      expect(await readFile(join(root, bad), 'utf8')).toBe(damaged);
      await expect(stat(store.path)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(at(WARN)).toHaveLength(1);
      expect(at(WARN)[0].reason).toMatch(reason);
      expect(at(WARN)[0].movedTo).toBe(join(root, bad));

      store.save(facts);
      await store.flush();
      expect(await store.load()).toEqual(facts);
    });
  });

  it('warns and starts fresh when the file cannot even be moved aside', async () => {
    const { logger, at } = capturingLogger();
    const store = createSnapshotStore(root, logger);
    await writeFile(store.path, 'garbage{');
    // A non-empty directory already sits where the file would be moved: rename refuses, even for root.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2030-01-02T03:04:05.678Z'));
      await mkdir(join(`${store.path}.bad-2030-01-02T03-04-05-678Z`, 'occupied'), { recursive: true });
      expect(await store.load()).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
    expect(at(WARN)).toHaveLength(1);
    expect(at(WARN)[0].msg).toMatch(/nor moved aside/);
  });

  it('survives an unwritable directory: no throw, no rejection, one error line per distinct error', async () => {
    const regularFile = join(root, 'not-a-dir');
    await writeFile(regularFile, '');
    const { logger, at } = capturingLogger();
    const store = createSnapshotStore(join(regularFile, 'state'), logger, { debounceMs: 1 });
    for (let i = 0; i < 3; i++) {
      expect(() => store.save({ ...facts, sessionId: `sess-${i}` })).not.toThrow();
      await store.flush();
    }
    expect(at(ERROR)).toHaveLength(1);
    expect(at(ERROR)[0].msg).toMatch(/state file cannot be written \(ENOTDIR/);
    expect(await store.load()).toBeUndefined();
  });

  it('reports the error again once it has recovered and fails anew', async () => {
    const dir = join(root, 'state');
    await writeFile(dir, '');
    const { logger, at } = capturingLogger();
    const store = createSnapshotStore(dir, logger);
    store.save(facts);
    await store.flush();
    await rm(dir);
    store.save({ ...facts, sessionId: 'sess-recovered' });
    await store.flush();
    await rm(dir, { recursive: true });
    await writeFile(dir, '');
    store.save({ ...facts, sessionId: 'sess-failing-anew' });
    await store.flush();
    expect(at(ERROR)).toHaveLength(2);
  });

  it('coalesces many rapid saves into few writes, and the latest facts win', async () => {
    const { logger } = capturingLogger();
    const store = createSnapshotStore(root, logger, { debounceMs: 2 });
    for (let i = 0; i < 500; i++) {
      store.save({ ...facts, sessionId: `sess-${i}` });
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await store.flush();
    expect((await store.load())?.sessionId).toBe('sess-499');
    expect(renames.count).toBeGreaterThanOrEqual(1);
    expect(renames.count).toBeLessThanOrEqual(11);
  });

  it('writes nothing for a save that changes nothing on disk, and again once the facts change', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger, { debounceMs: 1 });
    store.save(facts);
    await store.flush();
    store.save({ ...facts, inFlight: [{ taskId: 't-quick', llmName: 'qwen' }] });
    store.save(facts);
    await store.flush();
    expect(renames.count).toBe(1);
    store.save({ ...facts, sessionId: 'sess-new' });
    await store.flush();
    expect(renames.count).toBe(2);
    expect((await store.load())?.sessionId).toBe('sess-new');
  });

  it('writes saves made during a write right after it, once', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger, { debounceMs: 1 });
    store.save({ ...facts, sessionId: 'first' });
    const flushed = store.flush(); // the first write is now in flight
    store.save({ ...facts, sessionId: 'second' });
    store.save({ ...facts, sessionId: 'third' });
    await flushed;
    expect((await store.load())?.sessionId).toBe('third');
    expect(renames.count).toBe(2);
  });

  it('writes at most once per debounce while saves never stop, and the last save still reaches the file', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger, { debounceMs: 40 });
    const started = Date.now();
    let i = 0;
    while (Date.now() - started < 400) {
      store.save({ ...facts, sessionId: `busy-${i++}` });
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const elapsed = Date.now() - started;
    // Written back to back, the file was rewritten after every write's end (dozens of times here).
    expect(renames.count).toBeLessThanOrEqual(Math.ceil(elapsed / 40) + 1);
    expect(renames.count).toBeGreaterThanOrEqual(2);
    // No flush: the debounce after the last write takes the last save to disk on its own.
    await vi.waitFor(async () => expect((await store.load())?.sessionId).toBe(`busy-${i - 1}`), { timeout: 5_000, interval: 10 });
  });

  it('reads facts given as a function when it writes them, once per write', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger, { debounceMs: 5 });
    let reads = 0;
    let sessionId = 'early';
    const read = () => {
      reads++;
      return { ...facts, sessionId };
    };
    for (let i = 0; i < 100; i++) store.save(read);
    sessionId = 'late';
    await store.flush();
    expect(reads).toBe(1);
    expect((await store.load())?.sessionId).toBe('late');
  });

  it('keeps the facts as they were when saved, not as the caller changes them later', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger);
    const mutable: PersistedFacts = { providers: { qwen: 'active' }, inFlight: [] };
    store.save(mutable);
    mutable.providers.qwen = 'unavailable';
    await store.flush();
    expect((await store.load())?.providers).toEqual({ qwen: 'active' });
  });

  it('lets concurrent flushes all resolve after everything saved before them is on disk', async () => {
    const store = createSnapshotStore(root, capturingLogger().logger, { debounceMs: 1_000 });
    store.save({ ...facts, sessionId: 'a' });
    const first = store.flush();
    store.save({ ...facts, sessionId: 'b' });
    const second = store.flush();
    const third = store.flush();
    await Promise.all([first, second, third]);
    expect((await store.load())?.sessionId).toBe('b');
    await expect(store.flush()).resolves.toBeUndefined();
  });

  it('never leaves its temp file behind', async () => {
    const nested = join(root, 'nested');
    await mkdir(nested);
    const store = createSnapshotStore(nested, capturingLogger().logger, { debounceMs: 0 });
    for (let i = 0; i < 20; i++) {
      store.save({ ...facts, sessionId: `s-${i}` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await store.flush();
    expect(await readdir(nested)).toEqual(['state.json']);
  });
});
