// The state file: the few facts that survive a restart (session id, provider statuses, tasks in flight), written
// atomically, one write at a time, beside a format version; a file that cannot be trusted is set aside, never fatal.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import type { Logger } from '../log.ts';
import { describeIssues, ProviderStatus, SessionId, TaskId } from '../protocol/index.ts';

export const STATE_VERSION = 1;
const FILE_NAME = 'state.json';

export interface PersistedFacts {
  /** The hub's session id, sent again on register so the hub adopts our rows instead of orphaning them. */
  sessionId?: string;
  /** Last known status of each provider, by local name. */
  providers: Record<string, ProviderStatus>;
  /** Tasks running when the state was saved: on boot each gets an `error` result (`registrar restarted`). */
  inFlight: { taskId: string; llmName: string }[];
}

const PersistedFactsSchema = v.object({
  sessionId: v.optional(SessionId),
  providers: v.record(v.string(), ProviderStatus),
  inFlight: v.array(v.object({ taskId: TaskId, llmName: v.string() })),
});

const StateFile = v.object({ version: v.literal(STATE_VERSION), savedAt: v.string(), facts: PersistedFactsSchema });

export interface SnapshotStore {
  readonly path: string;
  /** The facts saved by the last run; `undefined` on a first start or when the file could not be trusted. Never throws. */
  load(): Promise<PersistedFacts | undefined>;
  /**
   * Queues the facts for writing; saves close together become one write and the latest facts win. Never throws.
   * Given a function, the facts are read from it when the write starts (a change is cheap to note, however often).
   */
  save(facts: PersistedFacts | (() => PersistedFacts)): void;
  /** Resolves once everything saved so far has been written (or its write has failed and been logged). */
  flush(): Promise<void>;
}

export interface SnapshotStoreOptions {
  /** How long a save waits for more saves to join it before writing, and the least time between two writes. Default 50 ms. */
  debounceMs?: number;
}

/** A save not written yet: facts as JSON, or the function that reads them. */
type Pending = string | (() => PersistedFacts);

export function createSnapshotStore(dir: string, logger: Logger, options: SnapshotStoreOptions = {}): SnapshotStore {
  const debounceMs = options.debounceMs ?? 50;
  const path = join(dir, FILE_NAME);
  const tempPath = `${path}.tmp-${process.pid}`;
  /** The latest save not yet handed to a write: its facts as JSON, or how to read them when the write starts. */
  let pending: Pending | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writer: Promise<void> | undefined;
  /**
   * The facts on disk as this store wrote them, and whether the directory is known to exist (both until a write
   * fails or a load looks at the file): a save that changes nothing (a task that came and went within the debounce)
   * costs no write, and a write costs five file operations, not seven.
   */
  let written: string | undefined;
  let dirReady = false;
  const reportedErrors = new Set<string>();

  async function setAside(reason: string): Promise<undefined> {
    const badPath = `${path}.bad-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(path, badPath);
      logger.warn({ path, movedTo: badPath, reason }, `state file set aside (${reason}); starting fresh`);
    } catch (error) {
      logger.warn({ path, reason, err: error }, `state file cannot be trusted (${reason}) nor moved aside; starting fresh`);
    }
    return undefined;
  }

  async function load(): Promise<PersistedFacts | undefined> {
    written = undefined;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      logger.warn({ path, err: error }, 'state file cannot be read; starting fresh');
      return undefined;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return setAside('not valid JSON: corrupt or truncated');
    }
    const version = typeof raw === 'object' && raw !== null ? (raw as { version?: unknown }).version : undefined;
    if (version !== STATE_VERSION) {
      return setAside(`format version ${JSON.stringify(version) ?? 'missing'}, this registrar reads version ${STATE_VERSION}`);
    }
    const parsed = v.safeParse(StateFile, raw);
    if (!parsed.success) return setAside(`unexpected content: ${describeIssues(parsed.issues)}`);
    return parsed.output.facts;
  }

  async function write(factsJson: string): Promise<void> {
    const text = `{"version":${STATE_VERSION},"savedAt":${JSON.stringify(new Date().toISOString())},"facts":${factsJson}}\n`;
    try {
      if (!dirReady) await mkdir(dir, { recursive: true, mode: 0o700 });
      dirReady = true;
      const file = await openTemp();
      try {
        await file.writeFile(text, 'utf8');
        await file.datasync();
      } finally {
        await file.close();
      }
      await rename(tempPath, path);
      written = factsJson;
      reportedErrors.clear();
    } catch (error) {
      dirReady = false;
      written = undefined;
      await rm(tempPath, { force: true }).catch(() => undefined);
      const message = (error as Error).message;
      if (!reportedErrors.has(message)) {
        reportedErrors.add(message);
        logger.error({ path, err: error }, `state file cannot be written (${message}); the session id will not survive a restart until it can`);
      }
    }
  }

  /** A new temp file (mode 0600); one left by a crashed process of the same pid keeps its old mode, so it is set. */
  async function openTemp() {
    try {
      return await open(tempPath, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const file = await open(tempPath, 'w', 0o600);
      await file.chmod(0o600);
      return file;
    }
  }

  /** Facts as JSON, or `undefined` when they cannot be serialized (logged). */
  function serialize(facts: PersistedFacts | (() => PersistedFacts)): string | undefined {
    try {
      return JSON.stringify(typeof facts === 'function' ? facts() : facts);
    } catch (error) {
      logger.error({ path, err: error }, 'state facts cannot be serialized; not saved');
      return undefined;
    }
  }

  /** The next write, `debounceMs` from now: after a save with nothing being written, and after every write. */
  function schedule(): void {
    if (writer !== undefined || timer !== undefined || pending === undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      startWriting();
    }, debounceMs);
  }

  function startWriting(): void {
    if (writer !== undefined || pending === undefined) return;
    const next = typeof pending === 'string' ? pending : serialize(pending);
    pending = undefined;
    if (next === undefined || next === written) return;
    // A busy daemon saves again during every write: what it saved meanwhile waits out the debounce after the write,
    // so the file is rewritten at most once per `debounceMs` (five file operations each), not back to back for ever.
    writer = write(next).then(() => {
      writer = undefined;
      schedule();
    });
  }

  function save(facts: PersistedFacts | (() => PersistedFacts)): void {
    // Facts given whole are serialized now (the caller may change them later); a reader of them, when the write starts.
    const next = typeof facts === 'function' ? facts : serialize(facts);
    if (next === undefined) return;
    pending = next;
    schedule();
  }

  async function flush(): Promise<void> {
    for (;;) {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (writer !== undefined) {
        await writer;
        continue;
      }
      if (pending === undefined) return;
      startWriting();
    }
  }

  return { path, load, save, flush };
}
