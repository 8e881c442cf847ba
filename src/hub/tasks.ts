// The tasks handed to registrars: delivery over each session's one stream (at least once: re-sent on the next
// stream until a final result), results in, chunk `seq` dedupe, cancel frames. The stream is the session's pulse
// (SPEC.md §6): tasks of a session without one fail once it has been gone `streamGraceMs`. Call deadlines belong
// to the caller's call.
import { randomUUID } from 'node:crypto';
import { wallClock, type HubClock } from './clock.ts';
import { DONE, type InferFrame, type OpenAiFrame, type TaskFrame, type TaskResult, type UpstreamErrorFields, type WakeFrame } from '../protocol/index.ts';

/** How a task ended: the registrar's answer (`body`, `done`, `error`), or the hub gave up on it (`failed`). */
export type TaskEnd =
  | { kind: 'body'; body: Record<string, unknown> }
  | { kind: 'done' }
  | { kind: 'error'; message: string; upstream: UpstreamErrorFields }
  | { kind: 'failed'; message: string };

export interface TaskListener {
  /** One piece of a streaming result, in arrival order, duplicates (same `seq`) already dropped. */
  chunk(data: string): void;
  /** Called exactly once, unless the task is dropped. */
  end(end: TaskEnd): void;
}

/** Where a session's frames go: its open task stream. */
export interface FrameSink {
  send(frame: TaskFrame): void;
  end(): void;
}

/**
 * What the routes and the dispatcher use of the task table: `TaskTable` on one hub, a router over Redis across
 * replicas (src/hub/state/replicated-tasks.ts), where looking a task up may cross the network.
 */
export interface TaskRouter {
  create(sessionId: string, order: WorkOrder, listener: TaskListener): string;
  hasStream(sessionId: string): boolean;
  /** Calls in flight on a row through other replicas (a pool picks by in-flight across replicas); none on one hub. */
  busyElsewhere?(rowName: string): number;
  sessionOf(taskId: string): string | undefined | Promise<string | undefined>;
  highestSeq(taskId: string): number | undefined | Promise<number | undefined>;
  accept(taskId: string, result: TaskResult): boolean | Promise<boolean>;
  drop(taskId: string, options: { cancel: boolean }): void;
  failSession(sessionId: string, message: string): number;
  forgetSession(sessionId: string, message: string): void;
  sessionLeft(sessionId: string, message: string): number;
  attachStream(sessionId: string, sink: FrameSink): void;
  detachStream(sessionId: string, sink: FrameSink): void;
  close(message: string): void;
  readonly pendingCount: number;
  /** Registrar task streams open on this process. */
  readonly streamCount: number;
}

export type WorkOrder = Omit<InferFrame, 'taskId'> | Omit<OpenAiFrame, 'taskId'> | Omit<WakeFrame, 'taskId'>;
type WorkFrame = InferFrame | OpenAiFrame | WakeFrame;

interface Task {
  readonly frame: WorkFrame;
  readonly sessionId: string;
  readonly listener: TaskListener;
  readonly seqTaken: Set<number>;
  /** Chunk text taken so far by a non-streaming task, which its caller buffers whole. */
  bufferedBytes: number;
}

/** A session without a stream: since when, and the timer that fails its tasks once the grace is over. */
interface Offline {
  readonly since: number;
  cancel?: () => void;
}

export interface TaskTableOptions {
  /** Default 8 MiB: chunk text a non-streaming task may buffer (see HubOptions). */
  maxResultBytes?: number;
  /** Default 10 000: how long a session's tasks wait for its stream to come back. */
  streamGraceMs?: number;
  /** Default wall time: the grace runs on it. */
  clock?: HubClock;
}

export class TaskTable implements TaskRouter {
  readonly #tasks = new Map<string, Task>();
  readonly #streams = new Map<string, FrameSink>();
  readonly #maxResultBytes: number;
  /** Sessions whose stream went away (or that left), until a stream opens again. */
  readonly #offline = new Map<string, Offline>();
  readonly #graceMs: number;
  readonly #clock: HubClock;

  constructor(options: TaskTableOptions = {}) {
    this.#maxResultBytes = options.maxResultBytes ?? 8 * 1024 * 1024;
    this.#graceMs = options.streamGraceMs ?? 10_000;
    this.#clock = options.clock ?? wallClock;
  }

  /**
   * Registers a task and sends it at once if its session has a stream open; else it waits for the next one, at most
   * what is left of the session's grace.
   */
  create(sessionId: string, order: WorkOrder, listener: TaskListener): string {
    const taskId = randomUUID();
    const frame = { ...order, taskId } as WorkFrame;
    this.#tasks.set(taskId, { frame, sessionId, listener, seqTaken: new Set(), bufferedBytes: 0 });
    const stream = this.#streams.get(sessionId);
    if (stream) stream.send(frame);
    else this.#armGrace(sessionId, this.#offline.get(sessionId)?.since ?? this.#clock.now());
    return taskId;
  }

  /** Registrars' task streams open now. */
  get streamCount(): number {
    return this.#streams.size;
  }

  hasStream(sessionId: string): boolean {
    return this.#streams.has(sessionId);
  }

  /** The session a pending task was sent to; undefined once the task is finished, dropped or never existed. */
  sessionOf(taskId: string): string | undefined {
    return this.#tasks.get(taskId)?.sessionId;
  }

  /** The highest chunk `seq` a pending task has taken (-1: none yet); undefined once it is unknown. */
  highestSeq(taskId: string): number | undefined {
    const task = this.#tasks.get(taskId);
    if (!task) return undefined;
    let highest = -1;
    for (const seq of task.seqTaken) if (seq > highest) highest = seq;
    return highest;
  }

  /** Takes one result for a pending task; false when the task is unknown (finished, dropped, expired). */
  accept(taskId: string, result: TaskResult): boolean {
    const task = this.#tasks.get(taskId);
    if (!task) return false;
    if ('chunk' in result) {
      const { data, seq, done } = result.chunk;
      if (seq !== undefined) {
        if (task.seqTaken.has(seq)) return true;
        task.seqTaken.add(seq);
      }
      if (!('streaming' in task.frame && task.frame.streaming)) {
        task.bufferedBytes += Buffer.byteLength(data);
        if (task.bufferedBytes > this.#maxResultBytes) {
          // Unknown from now on: the registrar hears 404 and stops the work.
          this.#finish(taskId, task, { kind: 'error', message: `the result is larger than the hub buffers for a non-streaming call (maxResultBytes ${this.#maxResultBytes}): ask with stream: true`, upstream: {} });
          return false;
        }
      }
      // The [DONE] marker is the caller's end of stream, written once when the task ends; a final chunk may
      // still carry text (registrars other than ours), which is relayed first.
      if (data !== DONE && data !== '') task.listener.chunk(data);
      if (done === true) this.#finish(taskId, task, { kind: 'done' });
    } else if ('error' in result) {
      const { error, ...upstream } = result;
      this.#finish(taskId, task, { kind: 'error', message: error, upstream });
    } else {
      this.#finish(taskId, task, { kind: 'body', body: result.body });
    }
    return true;
  }

  /** Forgets a task without ending it; with `cancel`, tells its registrar to stop working on it. */
  drop(taskId: string, options: { cancel: boolean }): void {
    const task = this.#tasks.get(taskId);
    if (!task) return;
    this.#tasks.delete(taskId);
    if (options.cancel) this.#streams.get(task.sessionId)?.send({ kind: 'cancel', taskId });
  }

  /** Ends every pending task of a session with `failed` (the session was lost). Returns how many. */
  failSession(sessionId: string, message: string): number {
    let failed = 0;
    for (const [taskId, task] of this.#tasks) {
      if (task.sessionId !== sessionId) continue;
      this.#finish(taskId, task, { kind: 'failed', message });
      failed += 1;
    }
    return failed;
  }

  /** A session the hub no longer knows: its pending tasks fail and its stream ends (the registrar then gets 404). */
  forgetSession(sessionId: string, message: string): void {
    this.failSession(sessionId, message);
    this.#clearOffline(sessionId);
    const stream = this.#streams.get(sessionId);
    this.#streams.delete(sessionId);
    stream?.end();
  }

  /**
   * A session that said it is leaving (SPEC.md §6): what waits on it fails now, and so does every task for it until a
   * stream opens again; there is no grace to wait out.
   */
  sessionLeft(sessionId: string, message: string): number {
    this.#clearOffline(sessionId);
    this.#offline.set(sessionId, { since: this.#clock.now() - this.#graceMs });
    return this.failSession(sessionId, message);
  }

  /** A session's new stream replaces its old one (ended) and receives every task of the session still pending. */
  attachStream(sessionId: string, sink: FrameSink): void {
    const previous = this.#streams.get(sessionId);
    this.#streams.set(sessionId, sink);
    this.#clearOffline(sessionId);
    previous?.end();
    for (const task of this.#tasks.values()) if (task.sessionId === sessionId) sink.send(task.frame);
  }

  /** The stream went away: the session's tasks, sent or not, wait out the grace for the next one. */
  detachStream(sessionId: string, sink: FrameSink): void {
    if (this.#streams.get(sessionId) !== sink) return;
    this.#streams.delete(sessionId);
    this.#offline.set(sessionId, { since: this.#clock.now() });
    if (this.#hasTasks(sessionId)) this.#armGrace(sessionId, this.#clock.now());
  }

  get pendingCount(): number {
    return this.#tasks.size;
  }

  /** Shutdown: every pending task fails with `message`, every stream ends. */
  close(message: string): void {
    for (const sessionId of [...this.#offline.keys()]) this.#clearOffline(sessionId);
    for (const [taskId, task] of this.#tasks) this.#finish(taskId, task, { kind: 'failed', message });
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) stream.end();
  }

  /** Fails the session's tasks once its stream has been gone the grace, counted from `since`; one timer a session. */
  #armGrace(sessionId: string, since: number): void {
    const offline = this.#offline.get(sessionId) ?? { since };
    this.#offline.set(sessionId, offline);
    if (offline.cancel) return;
    const left = Math.max(0, offline.since + this.#graceMs - this.#clock.now());
    offline.cancel = this.#clock.after(left, () => {
      offline.cancel = undefined;
      this.failSession(sessionId, `its registrar has had no task stream open for ${this.#graceMs} ms`);
    });
  }

  #clearOffline(sessionId: string): void {
    this.#offline.get(sessionId)?.cancel?.();
    this.#offline.delete(sessionId);
  }

  #hasTasks(sessionId: string): boolean {
    for (const task of this.#tasks.values()) if (task.sessionId === sessionId) return true;
    return false;
  }

  #finish(taskId: string, task: Task, end: TaskEnd): void {
    this.#tasks.delete(taskId);
    task.listener.end(end);
  }
}
