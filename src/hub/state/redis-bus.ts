// What replicas of one hub share through Redis (SPEC.md, "The hub beyond one machine"): which replica holds each
// registrar's task stream, task frames as a per-session Redis Stream read through a consumer group (at least once:
// a frame a dead replica did not see acknowledged is claimed and re-delivered by the next holder; the registrar
// dedupes by taskId), results on the caller's replica's channel, heartbeats and namespace changes broadcast, and
// every replica's liveness as a key with a TTL. One connection for commands, one for subscriptions.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TaskFrame, TaskResult } from '../../protocol/index.ts';

export interface RedisBusOptions {
  url: string;
  logger: Logger;
  /** How long a replica stays alive without refreshing its key, in ms. Default 5 000. */
  replicaTtlMs?: number;
  /** How often heartbeats taken here are broadcast to the other replicas, in ms. Default 200. */
  heartbeatFlushMs?: number;
  /** How long a task's routing record lives without a result, in ms. Default 330 000 (past the task timeout). */
  taskTtlMs?: number;
  /** Frames kept per session stream (older ones are trimmed). Default 10 000. */
  maxFramesPerSession?: number;
}

/** A sign of life taken by some replica, broadcast to all: the session and any statuses it reported. */
export interface HeartbeatNote {
  sessionId: string;
  at: number;
  providers?: { name: string; status: string }[];
}

/** Where a task's result must go: the session that runs it, the replica whose caller waits, the frame's entry. */
export interface TaskRoute {
  sessionId: string;
  replica: string;
  entryId: string;
}

/** Where a held stream's frames go: the frame, its entry, and the replica whose caller waits for it (if named). */
export type FrameDelivery = (frame: TaskFrame, entryId: string, callerReplica?: string) => void;

type ReplicaMessage =
  | { type: 'nudge'; sessionId: string }
  | { type: 'result'; taskId: string; result: TaskResult }
  | { type: 'release'; sessionId: string };

type BroadcastMessage = { type: 'heartbeats'; notes: HeartbeatNote[] } | { type: 'namespace'; version: number };

const GROUP = 'hub';

/**
 * A task's frame handed over in one round trip. KEYS: the session's frames, its holder, the task's route.
 * ARGV: max frames kept, the frame, 1 when it is a work frame (its route is written, with the entry id, so a result
 * posted to any replica finds the caller's), session id, this replica, the route's TTL in ms, the inbox channel
 * prefix, the nudge message. The entry names the caller's replica too, so its holder knows where results go without
 * reading the route. Returns the entry id and the replica holding the stream ('' for none).
 */
const SEND_FRAME = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'f', ARGV[2], 'r', ARGV[5])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[3], 'session', ARGV[4], 'replica', ARGV[5], 'entry', id)
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
local holder = redis.call('GET', KEYS[2]) or ''
if holder ~= '' and holder ~= ARGV[5] then redis.call('PUBLISH', ARGV[7] .. holder, ARGV[8]) end
return { id, holder }
`;
/**
 * A replica's calls in flight per row, written whole (never as deltas, so nothing can drift or leak: a dead
 * replica's hash expires with the TTL), and every other replica's summed. KEYS: this replica's load hash, the set of
 * replicas. ARGV: the hash's TTL in ms, this replica, the load key prefix, then row, count pairs.
 */
const SYNC_LOAD = `
redis.call('DEL', KEYS[1])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #ARGV > 3 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
redis.call('SADD', KEYS[2], ARGV[2])
local sums = {}
for _, replica in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if replica ~= ARGV[2] then
    local fields = redis.call('HGETALL', ARGV[3] .. replica)
    -- No hash: idle or gone; a live replica adds itself again with its next sync.
    if #fields == 0 then redis.call('SREM', KEYS[2], replica) end
    for i = 1, #fields, 2 do sums[fields[i]] = (sums[fields[i]] or 0) + tonumber(fields[i + 1]) end
  end
end
local out = {}
for row, count in pairs(sums) do out[#out + 1] = row; out[#out + 1] = tostring(count) end
return out
`;
const key = {
  frames: (sessionId: string) => `llmr:frames:${sessionId}`,
  holder: (sessionId: string) => `llmr:holder:${sessionId}`,
  task: (taskId: string) => `llmr:task:${taskId}`,
  alive: (replica: string) => `llmr:replica:${replica}`,
  load: (replica: string) => `llmr:load:${replica}`,
  replicas: 'llmr:replicas',
  inbox: (replica: string) => `llmr:inbox:${replica}`,
  broadcast: 'llmr:broadcast',
};

export class RedisBus {
  readonly replicaId = randomBytes(6).toString('hex');
  readonly #commands: Redis;
  readonly #subscriber: Redis;
  readonly #options: Required<Omit<RedisBusOptions, 'url' | 'logger'>>;
  readonly #logger: Logger;
  /** Sessions whose stream this replica holds: where their frames go. */
  readonly #held = new Map<string, FrameDelivery>();
  readonly #reading = new Set<string>();
  /** Sessions nudged while a read was under way: read once more after it. */
  readonly #again = new Set<string>();
  readonly #heartbeats: HeartbeatNote[] = [];
  #onHeartbeats: (notes: HeartbeatNote[]) => void = () => {};
  #onNamespace: (version: number) => void = () => {};
  #onResult: (taskId: string, result: TaskResult) => void = () => {};
  #onRelease: (sessionId: string) => void = () => {};
  readonly #timers: NodeJS.Timeout[] = [];

  private constructor(options: RedisBusOptions) {
    this.#logger = options.logger;
    this.#options = {
      replicaTtlMs: options.replicaTtlMs ?? 5_000,
      heartbeatFlushMs: options.heartbeatFlushMs ?? 200,
      taskTtlMs: options.taskTtlMs ?? 330_000,
      maxFramesPerSession: options.maxFramesPerSession ?? 10_000,
    };
    // No offline queue: while Redis is down a command fails at once, so a caller gets 503 now, not a hang.
    const connection = { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1_000) };
    this.#commands = new Redis(options.url, connection);
    this.#commands.defineCommand('llmrSendFrame', { numberOfKeys: 3, lua: SEND_FRAME });
    this.#commands.defineCommand('llmrSyncLoad', { numberOfKeys: 2, lua: SYNC_LOAD });
    this.#subscriber = new Redis(options.url, { ...connection, enableOfflineQueue: true });
    for (const [name, client] of [['commands', this.#commands], ['subscriber', this.#subscriber]] as const) {
      client.on('error', (error: Error) => this.#logger.debug({ connection: name, err: error.message }, 'redis connection error'));
    }
    let connectedBefore = false;
    this.#commands.on('ready', () => {
      this.#logger.info({ replica: this.replicaId }, connectedBefore ? 'redis connection back' : 'redis connected');
      // A Redis that restarted without its data has forgotten who holds which stream: say it again (the
      // subscriber re-subscribes on its own), and read what arrived meanwhile.
      if (connectedBefore) for (const [sessionId, deliver] of this.#held) void this.holdStream(sessionId, deliver).catch(() => undefined);
      connectedBefore = true;
    });
    this.#commands.on('close', () => this.#logger.warn({ replica: this.replicaId }, 'redis connection lost: calls get 503 until it is back'));
  }

  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(options);
    await Promise.all([bus.#commands.connect(), bus.#subscriber.connect()]);
    bus.#subscriber.on('message', (channel: string, text: string) => bus.#onMessage(channel, text));
    await bus.#subscriber.subscribe(key.inbox(bus.replicaId), key.broadcast);
    await bus.#refreshAlive();
    bus.#timers.push(setInterval(() => void bus.#refreshAlive(), bus.#options.replicaTtlMs / 3));
    bus.#timers.push(setInterval(() => void bus.#flushHeartbeats(), bus.#options.heartbeatFlushMs));
    return bus;
  }

  /** False while Redis is unreachable: the hub answers 503 instead of waiting. */
  get ready(): boolean {
    return this.#commands.status === 'ready';
  }

  onHeartbeats(listener: (notes: HeartbeatNote[]) => void): void {
    this.#onHeartbeats = listener;
  }

  onNamespaceChange(listener: (version: number) => void): void {
    this.#onNamespace = listener;
  }

  onResult(listener: (taskId: string, result: TaskResult) => void): void {
    this.#onResult = listener;
  }

  /** Another replica took over the stream of a session held here: end ours. */
  onRelease(listener: (sessionId: string) => void): void {
    this.#onRelease = listener;
  }

  /** Queued and broadcast with the next flush: one message for every heartbeat taken here in that window. */
  noteHeartbeat(note: HeartbeatNote): void {
    this.#heartbeats.push(note);
  }

  async announceNamespace(version: number): Promise<void> {
    await this.#commands.publish(key.broadcast, JSON.stringify({ type: 'namespace', version } satisfies BroadcastMessage));
  }

  /**
   * This replica now holds the session's task stream: frames go to `deliver`. Every frame not yet acknowledged
   * (sent before and unanswered, or never read by a replica that died) is delivered again first.
   */
  async holdStream(sessionId: string, deliver: FrameDelivery): Promise<void> {
    const previous = await this.#commands.set(key.holder(sessionId), this.replicaId, 'GET');
    this.#held.set(sessionId, deliver);
    if (previous !== null && previous !== this.replicaId) await this.#send(previous, { type: 'release', sessionId });
    await this.#commands.xgroup('CREATE', key.frames(sessionId), GROUP, '0', 'MKSTREAM').catch((error: Error) => {
      if (!error.message.includes('BUSYGROUP')) throw error;
    });
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.#commands.xautoclaim(key.frames(sessionId), GROUP, this.replicaId, 0, cursor, 'COUNT', 500)) as [string, [string, string[]][]];
      await this.#deliverClaimed(sessionId, entries);
      cursor = next;
    } while (cursor !== '0-0' && this.#held.has(sessionId));
    this.#drain(sessionId);
  }

  /** The stream closed here: frames wait in Redis for the session's next stream, wherever it opens. */
  async releaseStream(sessionId: string): Promise<void> {
    if (!this.#held.delete(sessionId)) return;
    const script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
    await this.#commands.eval(script, 1, key.holder(sessionId), this.replicaId).catch(() => undefined);
  }

  /** The replica holding a session's stream, if any. */
  async holderOf(sessionId: string): Promise<string | undefined> {
    return (await this.#commands.get(key.holder(sessionId))) ?? undefined;
  }

  /**
   * Appends a frame to the session's stream, writes its task's route (a work frame: where its results go) and tells
   * the replica holding the stream, in one round trip (SEND_FRAME); returns the frame's entry id.
   */
  async sendFrame(sessionId: string, frame: TaskFrame): Promise<string> {
    const work = frame.kind !== 'cancel';
    const nudge = JSON.stringify({ type: 'nudge', sessionId } satisfies ReplicaMessage);
    // A cancel frame has no route: its task key is named (a script declares its keys) and left untouched.
    const [entryId, holder] = (await this.#script('llmrSendFrame', [key.frames(sessionId), key.holder(sessionId), key.task(frame.taskId)], [
      this.#options.maxFramesPerSession,
      JSON.stringify(frame),
      work ? 1 : 0,
      sessionId,
      this.replicaId,
      this.#options.taskTtlMs,
      key.inbox(''),
      nudge,
    ])) as [string, string];
    if (holder === this.replicaId) this.#drain(sessionId);
    return entryId;
  }

  /** The frame's task has its final result (or is dropped): it is never re-delivered. */
  async ack(sessionId: string, entryId: string): Promise<void> {
    await this.#commands.xack(key.frames(sessionId), GROUP, entryId);
  }

  /** A call ended on its caller's replica: its frame (if written) acknowledged and its route dropped, in one round trip. */
  async settle(sessionId: string, entryId: string | undefined, taskId: string): Promise<void> {
    const steps = this.#commands.pipeline();
    if (entryId !== undefined) steps.xack(key.frames(sessionId), GROUP, entryId);
    await steps.del(key.task(taskId)).exec();
  }

  async route(taskId: string): Promise<TaskRoute | undefined> {
    const [sessionId, replica, entryId] = await this.#commands.hmget(key.task(taskId), 'session', 'replica', 'entry');
    return sessionId && replica && entryId ? { sessionId, replica, entryId } : undefined;
  }

  async dropRoute(taskId: string): Promise<void> {
    await this.#commands.del(key.task(taskId));
  }

  /** Publishes this replica's calls in flight per row; returns every other live replica's, summed per row. */
  async syncLoad(own: Map<string, number>): Promise<Map<string, number>> {
    const pairs = [...own].flatMap(([row, count]) => [row, count]);
    const answer = (await this.#script('llmrSyncLoad', [key.load(this.replicaId), key.replicas], [this.#options.replicaTtlMs, this.replicaId, key.load(''), ...pairs])) as string[];
    const elsewhere = new Map<string, number>();
    for (let i = 0; i + 1 < answer.length; i += 2) elsewhere.set(answer[i]!, Number(answer[i + 1]));
    return elsewhere;
  }

  async isAlive(replica: string): Promise<boolean> {
    return (await this.#commands.exists(key.alive(replica))) === 1;
  }

  /**
   * Sends a result to the replica whose caller waits for it; false when no replica listens there (it died: its
   * subscription went with its connection, long before its liveness key expires).
   */
  async forwardResult(replica: string, taskId: string, result: TaskResult): Promise<boolean> {
    return (await this.#send(replica, { type: 'result', taskId, result })) > 0;
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    await this.#flushHeartbeats();
    for (const sessionId of [...this.#held.keys()]) await this.releaseStream(sessionId);
    await this.#commands.del(key.alive(this.replicaId), key.load(this.replicaId)).catch(() => undefined);
    this.#subscriber.disconnect();
    this.#commands.disconnect();
  }

  /** A script defined at connect (ioredis sends EVALSHA, and the script itself after a Redis restart forgot it). */
  #script(name: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const run = (this.#commands as unknown as Record<string, (...parts: (string | number)[]) => Promise<unknown>>)[name];
    if (!run) throw new Error(`redis script ${name} is not defined`);
    return run.call(this.#commands, ...keys, ...args);
  }

  /** How many replicas received it: 0 or 1. */
  async #send(replica: string, message: ReplicaMessage): Promise<number> {
    return this.#commands.publish(key.inbox(replica), JSON.stringify(message));
  }

  #onMessage(channel: string, text: string): void {
    let message: ReplicaMessage | BroadcastMessage;
    try {
      message = JSON.parse(text) as ReplicaMessage | BroadcastMessage;
    } catch {
      return this.#logger.warn({ channel }, 'redis: a message that is not JSON was ignored');
    }
    switch (message.type) {
      case 'nudge':
        return this.#drain(message.sessionId);
      case 'result':
        return this.#onResult(message.taskId, message.result);
      case 'release':
        if (this.#held.delete(message.sessionId)) this.#onRelease(message.sessionId);
        return;
      case 'heartbeats':
        return this.#onHeartbeats(message.notes);
      case 'namespace':
        return this.#onNamespace(message.version);
    }
  }

  /** Reads every new frame of a session held here; one reader a session at a time, again if nudged meanwhile. */
  #drain(sessionId: string): void {
    if (!this.#held.has(sessionId)) return;
    if (this.#reading.has(sessionId)) {
      this.#again.add(sessionId);
      return;
    }
    this.#reading.add(sessionId);
    void (async () => {
      try {
        for (;;) {
          this.#again.delete(sessionId);
          const answer = (await this.#commands.xreadgroup('GROUP', GROUP, this.replicaId, 'COUNT', 500, 'STREAMS', key.frames(sessionId), '>')) as [string, [string, string[]][]][] | null;
          const entries = answer?.[0]?.[1] ?? [];
          this.#deliverEntries(sessionId, entries);
          if (entries.length < 500 && !this.#again.has(sessionId)) break;
        }
      } catch (error) {
        this.#logger.warn({ err: (error as Error).message }, 'redis: reading task frames failed; the next nudge or reconnect reads them');
      } finally {
        this.#reading.delete(sessionId);
      }
    })();
  }

  /**
   * Frames claimed from the stream's previous holder. A work frame whose call has ended (its route is gone) or whose
   * caller's replica died would only be answered 404 again by whoever delivers it: acknowledged, not delivered.
   */
  async #deliverClaimed(sessionId: string, entries: [string, string[] | null][]): Promise<void> {
    const work = entries.flatMap(([entryId, fields]) => {
      const frame = fields?.[1] === undefined ? undefined : (JSON.parse(fields[1]) as TaskFrame);
      return frame && frame.kind !== 'cancel' ? [{ entryId, taskId: frame.taskId }] : [];
    });
    if (work.length === 0) return this.#deliverEntries(sessionId, entries);
    const routes = this.#commands.pipeline();
    for (const { taskId } of work) routes.hget(key.task(taskId), 'replica');
    const callers = ((await routes.exec()) ?? []).map(([, replica]) => (typeof replica === 'string' ? replica : undefined));
    const replicas = [...new Set(callers.filter((replica): replica is string => replica !== undefined))];
    const liveness = this.#commands.pipeline();
    for (const replica of replicas) liveness.exists(key.alive(replica));
    const alive = new Set(((await liveness.exec()) ?? []).flatMap(([, exists], i) => (exists === 1 ? [replicas[i]!] : [])));
    const orphaned = new Set(work.filter((_, i) => callers[i] === undefined || !alive.has(callers[i]!)).map(({ entryId }) => entryId));
    if (orphaned.size > 0) {
      await this.#commands.xack(key.frames(sessionId), GROUP, ...orphaned);
      this.#logger.info({ frames: orphaned.size }, 'redis: frames whose caller is gone were acknowledged instead of re-delivered');
    }
    this.#deliverEntries(sessionId, entries.filter(([entryId]) => !orphaned.has(entryId)));
  }

  #deliverEntries(sessionId: string, entries: [string, string[] | null][]): void {
    const deliver = this.#held.get(sessionId);
    if (!deliver) return;
    for (const [entryId, fields] of entries) {
      const text = fields?.[1];
      if (text === undefined) continue;
      deliver(JSON.parse(text) as TaskFrame, entryId, fields?.[3]);
    }
  }

  async #refreshAlive(): Promise<void> {
    await this.#commands.set(key.alive(this.replicaId), '1', 'PX', this.#options.replicaTtlMs).catch(() => undefined);
  }

  async #flushHeartbeats(): Promise<void> {
    if (this.#heartbeats.length === 0) return;
    const notes = this.#heartbeats.splice(0);
    await this.#commands.publish(key.broadcast, JSON.stringify({ type: 'heartbeats', notes } satisfies BroadcastMessage)).catch(() => {
      // Redis is down: the registrars' next heartbeats say the same, and the watchdog allows several misses.
    });
  }
}
