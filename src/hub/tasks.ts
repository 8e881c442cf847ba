// The tasks handed to registrars: delivery over each session's one stream (at least once: re-sent on the next
// stream until a final result), results in, chunk `seq` dedupe, cancel frames. Timeouts belong to the caller's call.
import { randomUUID } from 'node:crypto';
import { DONE, type InferFrame, type TaskFrame, type TaskResult, type WakeFrame } from '../protocol/index.ts';

/** How a task ended: the registrar's answer (`body`, `done`, `error`), or the hub gave up on it (`failed`). */
export type TaskEnd =
  | { kind: 'body'; body: Record<string, unknown> }
  | { kind: 'done' }
  | { kind: 'error'; message: string }
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

export type WorkOrder = Omit<InferFrame, 'taskId'> | Omit<WakeFrame, 'taskId'>;

interface Task {
  readonly frame: InferFrame | WakeFrame;
  readonly sessionId: string;
  readonly listener: TaskListener;
  readonly seqTaken: Set<number>;
}

export class TaskTable {
  readonly #tasks = new Map<string, Task>();
  readonly #streams = new Map<string, FrameSink>();

  /** Registers a task and sends it at once if its session has a stream open; else it waits for the next one. */
  create(sessionId: string, order: WorkOrder, listener: TaskListener): string {
    const taskId = randomUUID();
    const frame = { ...order, taskId } as InferFrame | WakeFrame;
    this.#tasks.set(taskId, { frame, sessionId, listener, seqTaken: new Set() });
    this.#streams.get(sessionId)?.send(frame);
    return taskId;
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
      // The [DONE] marker is the caller's end of stream, written once when the task ends; a final chunk may
      // still carry text (registrars other than ours), which is relayed first.
      if (data !== DONE && data !== '') task.listener.chunk(data);
      if (done === true) this.#finish(taskId, task, { kind: 'done' });
    } else if ('error' in result) {
      this.#finish(taskId, task, { kind: 'error', message: result.error });
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
    const stream = this.#streams.get(sessionId);
    this.#streams.delete(sessionId);
    stream?.end();
  }

  /** A session's new stream replaces its old one (ended) and receives every task of the session still pending. */
  attachStream(sessionId: string, sink: FrameSink): void {
    const previous = this.#streams.get(sessionId);
    this.#streams.set(sessionId, sink);
    previous?.end();
    for (const task of this.#tasks.values()) if (task.sessionId === sessionId) sink.send(task.frame);
  }

  detachStream(sessionId: string, sink: FrameSink): void {
    if (this.#streams.get(sessionId) === sink) this.#streams.delete(sessionId);
  }

  get pendingCount(): number {
    return this.#tasks.size;
  }

  /** Shutdown: every pending task fails with `message`, every stream ends. */
  close(message: string): void {
    for (const [taskId, task] of this.#tasks) this.#finish(taskId, task, { kind: 'failed', message });
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) stream.end();
  }

  #finish(taskId: string, task: Task, end: TaskEnd): void {
    this.#tasks.delete(taskId);
    task.listener.end(end);
  }
}
