// Tasks across replicas (SPEC.md, "The hub beyond one machine"): a caller's task lives on the caller's replica (its
// listener, chunk dedupe, buffering, in a TaskTable whose every session "stream" is the session's Redis Stream); the
// replica holding the registrar's task stream reads the frames and writes them out; a result posted to any replica
// is routed to the caller's. The stream grace is judged by the caller's replica from who holds the stream. Pools pick
// by calls in flight on every replica: each publishes its own counts and reads the others' (RedisBus.syncLoad).
import type { Logger } from 'pino';
import type { TaskFrame, TaskResult } from '../../protocol/index.ts';
import type { HubClock } from '../clock.ts';
import { TaskTable, type FrameSink, type TaskListener, type TaskRouter, type WorkOrder } from '../tasks.ts';
import type { RedisBus, TaskRoute } from './redis-bus.ts';

export interface ReplicatedTasksOptions {
  bus: RedisBus;
  logger: Logger;
  maxResultBytes: number;
  streamGraceMs: number;
  clock: HubClock;
  /** Default 100: how often this replica publishes its calls in flight per row and reads the other replicas'. */
  loadSyncMs?: number;
}

/**
 * How long another replica's task route is trusted without reading it again (a streamed call posts many chunks). A
 * route never changes, but it is dropped when its call ends: a result posted within this time after the end is
 * answered 200 and dropped by the caller's replica, after it 404 (the registrar stops). A dead caller's replica is
 * seen at once either way (nobody receives the forward).
 */
const ROUTE_CACHE_MS = 1_000;
const ROUTE_CACHE_SIZE = 10_000;

/** A task of a caller here: its session, and its frame's entry once Redis has it (acknowledged when it ends). */
interface Routed {
  sessionId: string;
  /** The row it runs on; a wake is not a call in flight. */
  llmName: string;
  call: boolean;
  entryId?: string;
  ended: boolean;
}

export class ReplicatedTasks implements TaskRouter {
  readonly #bus: RedisBus;
  readonly #logger: Logger;
  readonly #local: TaskTable;
  readonly #routed = new Map<string, Routed>();
  /** Registrar streams this replica holds. */
  readonly #held = new Map<string, FrameSink>();
  /** Sessions with callers here whose stream nobody holds: since when. */
  readonly #offline = new Map<string, number>();
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #graceTimer: NodeJS.Timeout;
  #checking = false;
  /** Other replicas' tasks whose results were posted here lately: where they go. */
  readonly #routes = new Map<string, { route: TaskRoute; until: number }>();
  /** Calls in flight per row on the other replicas, as of the last load sync. */
  #elsewhere = new Map<string, number>();
  readonly #loadTimer: NodeJS.Timeout;
  #syncing = false;

  constructor(options: ReplicatedTasksOptions) {
    this.#bus = options.bus;
    this.#logger = options.logger;
    this.#graceMs = options.streamGraceMs;
    this.#now = options.clock.now;
    // The local table's own grace never runs: every session it knows has the bus as its stream.
    this.#local = new TaskTable({ maxResultBytes: options.maxResultBytes, streamGraceMs: options.streamGraceMs, clock: options.clock });
    this.#bus.onResult((taskId, result) => void this.#local.accept(taskId, result));
    this.#bus.onRelease((sessionId) => {
      const sink = this.#held.get(sessionId);
      this.#held.delete(sessionId);
      sink?.end();
    });
    this.#graceTimer = setInterval(() => void this.#checkStreams(), Math.max(20, Math.min(Math.floor(this.#graceMs / 4), 1_000)));
    this.#graceTimer.unref();
    this.#loadTimer = setInterval(() => void this.#syncLoad(), options.loadSyncMs ?? 100);
    this.#loadTimer.unref();
  }

  create(sessionId: string, order: WorkOrder, listener: TaskListener): string {
    if (!this.#local.hasStream(sessionId)) this.#local.attachStream(sessionId, this.#busSink(sessionId));
    let taskId = '';
    const routed: Routed = { sessionId, llmName: order.llmName, call: order.kind !== 'wake', ended: false };
    taskId = this.#local.create(sessionId, order, {
      chunk: (data) => listener.chunk(data),
      end: (end) => {
        this.#settle(taskId);
        listener.end(end);
      },
    });
    this.#routed.set(taskId, routed);
    return taskId;
  }

  /** A preference for dispatch only: a session is taken to have its stream until the grace check finds none. */
  hasStream(sessionId: string): boolean {
    return this.#held.has(sessionId) || !this.#offline.has(sessionId);
  }

  async sessionOf(taskId: string): Promise<string | undefined> {
    return this.#local.sessionOf(taskId) ?? (await this.#routeOf(taskId))?.sessionId;
  }

  /** Calls in flight on a row through the other replicas (as of the last sync, at most loadSyncMs old). */
  busyElsewhere(rowName: string): number {
    return this.#elsewhere.get(rowName) ?? 0;
  }

  highestSeq(taskId: string): number | undefined {
    return this.#local.highestSeq(taskId);
  }

  /** Ours: taken here. Another replica's caller: forwarded, if that replica lives (else unknown: the registrar stops). */
  async accept(taskId: string, result: TaskResult): Promise<boolean> {
    if (this.#local.sessionOf(taskId) !== undefined) return this.#local.accept(taskId, result);
    const route = await this.#routeOf(taskId);
    if (!route || route.replica === this.#bus.replicaId) return false;
    if (await this.#bus.forwardResult(route.replica, taskId, result)) return true;
    // Its caller's replica is gone: the frame is done with (never re-delivered), the registrar hears 404 and stops.
    this.#routes.delete(taskId);
    await Promise.all([this.#bus.ack(route.sessionId, route.entryId), this.#bus.dropRoute(taskId)]);
    return false;
  }

  drop(taskId: string, options: { cancel: boolean }): void {
    this.#local.drop(taskId, options);
    this.#settle(taskId);
  }

  failSession(sessionId: string, message: string): number {
    return this.#local.failSession(sessionId, message);
  }

  forgetSession(sessionId: string, message: string): void {
    this.#local.forgetSession(sessionId, message);
    this.#offline.delete(sessionId);
    const sink = this.#held.get(sessionId);
    if (sink) this.detachStream(sessionId, sink);
    sink?.end();
  }

  sessionLeft(sessionId: string, message: string): number {
    return this.#local.sessionLeft(sessionId, message);
  }

  /** The registrar's stream opened here: this replica reads the session's frames (unanswered ones first) and writes them. */
  attachStream(sessionId: string, sink: FrameSink): void {
    const previous = this.#held.get(sessionId);
    this.#held.set(sessionId, sink);
    this.#offline.delete(sessionId);
    previous?.end();
    const deliver = (frame: TaskFrame, entryId: string, callerReplica?: string): void => {
      // A cancel frame is done once written; a work frame is acknowledged by the caller's replica when its call ends.
      if (frame.kind === 'cancel') void this.#bus.ack(sessionId, entryId).catch(() => undefined);
      else if (callerReplica !== undefined && callerReplica !== this.#bus.replicaId) this.#keepRoute(frame.taskId, { sessionId, replica: callerReplica, entryId });
      sink.send(frame);
    };
    this.#bus.holdStream(sessionId, deliver).catch((error: Error) => {
      this.#logger.warn({ err: error.message }, 'redis: could not take a task stream; the registrar reconnects');
      if (this.#held.get(sessionId) === sink) this.#held.delete(sessionId);
      sink.end();
    });
  }

  detachStream(sessionId: string, sink: FrameSink): void {
    if (this.#held.get(sessionId) !== sink) return;
    this.#held.delete(sessionId);
    void this.#bus.releaseStream(sessionId).catch(() => undefined);
  }

  get pendingCount(): number {
    return this.#local.pendingCount;
  }

  get streamCount(): number {
    return this.#local.streamCount;
  }

  close(message: string): void {
    clearInterval(this.#graceTimer);
    clearInterval(this.#loadTimer);
    this.#local.close(message);
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const sink of held) sink.end();
  }

  /** Every frame for a session goes into its Redis Stream, whoever holds it, with a work frame's route, in one round trip. */
  #busSink(sessionId: string): FrameSink {
    return {
      send: (frame) => {
        if (frame.kind === 'cancel') {
          void this.#bus.sendFrame(sessionId, frame).catch(() => undefined);
          return;
        }
        void (async () => {
          const entryId = await this.#bus.sendFrame(sessionId, frame);
          const routed = this.#routed.get(frame.taskId);
          if (routed && !routed.ended) routed.entryId = entryId;
          // The call ended before Redis answered: the route the script wrote goes with the frame.
          else await this.#bus.settle(sessionId, entryId, frame.taskId);
        })().catch((error: Error) => {
          this.#local.accept(frame.taskId, { error: `the hub could not hand the task to its registrar (its bus, Redis: ${error.message}): try again` });
        });
      },
      end: () => {},
    };
  }

  /** Another replica's task route, read once and trusted for ROUTE_CACHE_MS; bounded, oldest dropped first. */
  async #routeOf(taskId: string): Promise<TaskRoute | undefined> {
    const cached = this.#routes.get(taskId);
    if (cached && cached.until > this.#now()) return cached.route;
    this.#routes.delete(taskId);
    const route = await this.#bus.route(taskId);
    if (route) this.#keepRoute(taskId, route);
    return route;
  }

  #keepRoute(taskId: string, route: TaskRoute): void {
    this.#routes.delete(taskId);
    if (this.#routes.size >= ROUTE_CACHE_SIZE) this.#routes.delete(this.#routes.keys().next().value!);
    this.#routes.set(taskId, { route, until: this.#now() + ROUTE_CACHE_MS });
  }

  /** This replica's calls in flight per row out, the other replicas' in; a failed sync keeps the last view. */
  async #syncLoad(): Promise<void> {
    if (this.#syncing || !this.#bus.ready) return;
    this.#syncing = true;
    try {
      const own = new Map<string, number>();
      for (const routed of this.#routed.values()) if (routed.call) own.set(routed.llmName, (own.get(routed.llmName) ?? 0) + 1);
      this.#elsewhere = await this.#bus.syncLoad(own);
    } catch (error) {
      this.#logger.debug({ err: (error as Error).message }, 'redis: load sync failed; the next one retries');
    } finally {
      this.#syncing = false;
    }
  }

  /** The call ended here: its frame is never re-delivered and its results have nowhere to go. */
  #settle(taskId: string): void {
    const routed = this.#routed.get(taskId);
    if (!routed || routed.ended) return;
    routed.ended = true;
    this.#routed.delete(taskId);
    const { sessionId, entryId } = routed;
    void this.#bus.settle(sessionId, entryId, taskId).catch(() => undefined);
  }

  /** The grace across replicas: a session with callers here whose stream no live replica holds fails after graceMs. */
  async #checkStreams(): Promise<void> {
    if (this.#checking || !this.#bus.ready) return;
    this.#checking = true;
    try {
      const waiting = new Set([...this.#routed.values()].map((routed) => routed.sessionId));
      for (const sessionId of this.#offline.keys()) if (!waiting.has(sessionId)) this.#offline.delete(sessionId);
      for (const sessionId of waiting) {
        if (await this.#isHeld(sessionId)) {
          this.#offline.delete(sessionId);
          continue;
        }
        const since = this.#offline.get(sessionId) ?? this.#now();
        this.#offline.set(sessionId, since);
        if (this.#now() - since >= this.#graceMs) {
          this.#offline.delete(sessionId);
          this.#local.failSession(sessionId, `its registrar has had no task stream open for ${this.#graceMs} ms`);
        }
      }
    } catch (error) {
      this.#logger.debug({ err: (error as Error).message }, 'redis: stream check failed; the next one retries');
    } finally {
      this.#checking = false;
    }
  }

  async #isHeld(sessionId: string): Promise<boolean> {
    if (this.#held.has(sessionId)) return true;
    const holder = await this.#bus.holderOf(sessionId);
    return holder !== undefined && holder !== this.#bus.replicaId && (await this.#bus.isAlive(holder));
  }
}
