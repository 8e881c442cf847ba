// The hub's state shared by replicas (SPEC.md, "The hub beyond one machine"): each replica keeps a full mirror of the
// namespace (the same pure Registry), loaded from PostgreSQL and kept current by replaying the change log when a
// replica announces a change (and on a slow timer, in case a message is lost). A register, leave or retention delete
// is decided under the store's one lock after replaying; liveness never writes PostgreSQL: heartbeats are applied
// here and broadcast through Redis.
import type { Logger } from 'pino';
import type { HubClock } from '../clock.ts';
import { CAPABILITY_OPENAI, type ProviderStatus } from '../../protocol/index.ts';
import { Registry, type RegisterOutcome, type RegistryOptions, type SessionDocument } from '../registry.ts';
import { SessionIds } from '../session-ids.ts';
import type { HubState, Unavailable } from './index.ts';
import { PostgresStore, type StoredSession } from './postgres-store.ts';
import { RedisBus } from './redis-bus.ts';
import { ReplicatedTasks } from './replicated-tasks.ts';

export interface ReplicatedStateOptions {
  /** postgres://… */
  store: string;
  /** redis://… */
  bus: string;
  registry: Omit<RegistryOptions, 'ids' | 'capabilities'>;
  maxResultBytes: number;
  streamGraceMs: number;
  logger: Logger;
  clock: HubClock;
  /** Default 5 000: how often the change log is read even without an announcement. */
  catchUpMs?: number;
}

type Changes = { version: number; sessions: (StoredSession | { id: string; published: null })[] };

const STORE_AWAY: Unavailable = { ok: false, status: 503, message: "the hub's store (PostgreSQL) is unreachable: try again shortly" };
const BUS_AWAY = "the hub's bus (Redis) is unreachable: try again shortly";

export async function openReplicatedState(options: ReplicatedStateOptions): Promise<HubState> {
  const { logger } = options;
  const store = await PostgresStore.open({ url: options.store, logger });
  const bus = await RedisBus.connect({ url: options.bus, logger });
  const key = await store.secret('session-key');
  // result.stream uploads are not offered here: their resume would have to find the caller's replica.
  const registry = new Registry({ ...options.registry, ids: new SessionIds(key), capabilities: [CAPABILITY_OPENAI] });
  const tasks = new ReplicatedTasks({ bus, logger, maxResultBytes: options.maxResultBytes, streamGraceMs: options.streamGraceMs, clock: options.clock });

  let version = 0;
  /** A change that failed half-way may have been decided here and never written: reload everything first. */
  let stale = true;
  // One namespace operation at a time on this replica, so a replay never applies documents older than a decision.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  const apply = (changes: Changes): void => {
    for (const change of changes.sessions) {
      if (change.published === null) {
        if (registry.sessionById(change.id) === undefined) continue;
        registry.removeSession(change.id);
        tasks.forgetSession(change.id, 'the session was deleted by another replica');
        continue;
      }
      const wasLeft = registry.sessionById(change.id)?.left ?? false;
      const doc = change.published as SessionDocument;
      registry.importSession(change.id, doc);
      if (doc.left && !wasLeft) tasks.sessionLeft(change.id, 'the registrar publishing this model left the hub');
    }
    version = Math.max(version, changes.version);
  };

  const reload = async (): Promise<void> => {
    const loaded = await store.loadNamespace();
    const present = new Set(loaded.sessions.map((session) => session.id));
    for (const id of registry.sessionIds()) {
      if (present.has(id)) continue;
      registry.removeSession(id);
      tasks.forgetSession(id, 'the session was deleted by another replica');
    }
    version = 0;
    apply({ version: loaded.version, sessions: loaded.sessions });
    version = loaded.version;
    stale = false;
  };

  const catchUp = (): Promise<void> =>
    serial(async () => {
      if (stale) return reload();
      apply(await store.changesSince(version));
    });

  /** Decides a change under the store's lock after replaying, writes what it touched, tells the other replicas. */
  const change = <T>(decide: () => { result: T; write: string[]; remove: string[] }): Promise<T | Unavailable> =>
    serial(async () => {
      try {
        if (stale) await reload();
        let touched = false;
        const outcome = await store.changeNamespace(version, (changes) => {
          apply(changes);
          stale = true;
          const { result, write, remove } = decide();
          touched = write.length + remove.length > 0;
          const docs = write.flatMap((id) => {
            const published = registry.exportSession(id);
            return published ? [{ id, owner: published.user, published }] : [];
          });
          return { result, write: docs, remove };
        });
        stale = false;
        version = outcome.version;
        if (touched) await bus.announceNamespace(version).catch(() => undefined);
        return outcome.result;
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'namespace change failed: the store is unreachable');
        return STORE_AWAY;
      }
    });

  bus.onNamespaceChange((announced) => {
    if (announced > version) void catchUp().catch(() => undefined);
  });
  bus.onHeartbeats((notes) => {
    for (const note of notes) registry.noteSignOfLife(note.sessionId, note.at, (note.providers ?? []) as { name: string; status: ProviderStatus }[]);
  });
  const timer = setInterval(() => void catchUp().catch(() => undefined), options.catchUpMs ?? 5_000);
  timer.unref();
  await catchUp();

  return {
    registry,
    tasks,
    // The usage ledger is the store's: every replica's calls in one table, written in batches.
    usage: { record: (entry) => store.recordUsage(entry), summary: (query) => store.usage(query) },
    unavailable: () => (bus.ready ? undefined : BUS_AWAY),
    register: (user, request, now) =>
      change<RegisterOutcome>(() => {
        const outcome = registry.register(user, request, now);
        if (!outcome.ok) return { result: outcome, write: [], remove: [] };
        return { result: outcome, write: [outcome.sessionId, ...outcome.trimmed], remove: [...outcome.forgotten, ...outcome.evicted] };
      }),
    async heartbeat(user, request, now) {
      if (registry.sessionOf(user, request.providerSessionId) === undefined) await catchUp().catch(() => undefined);
      if (!registry.heartbeat(user, request, now)) return false;
      bus.noteHeartbeat({ sessionId: request.providerSessionId, at: now, ...(request.providers ? { providers: request.providers } : {}) });
      return true;
    },
    leave: (user, sessionId) =>
      change<boolean>(() => {
        const left = registry.leave(user, sessionId);
        return { result: left, write: left ? [sessionId] : [], remove: [] };
      }),
    catchUp,
    async collectExpired(now) {
      if (registry.expiredSessions(now).length === 0) return [];
      const outcome = await change<string[]>(() => {
        const expired = registry.collectExpired(now);
        return { result: expired, write: [], remove: expired };
      });
      return Array.isArray(outcome) ? outcome : [];
    },
    async close() {
      clearInterval(timer);
      await queue;
      await bus.close();
      await store.close();
    },
  };
}
