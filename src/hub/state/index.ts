// The hub's state behind one seam: what `startHub` builds and the routes and the watchdog use, without knowing
// whether it lives in this process (memory.ts) or is shared by replicas through PostgreSQL and Redis (replicated.ts).
import type { HeartbeatRequest, RegisterRequest } from '../../protocol/index.ts';
import type { RegisterOutcome, Registry } from '../registry.ts';
import type { TaskRouter, TaskTable } from '../tasks.ts';
import type { UsageLedger } from '../usage.ts';

/** A change the hub cannot make now (its store or bus is away): the caller answers 503 with Retry-After. */
export interface Unavailable {
  ok: false;
  status: 503;
  message: string;
}

export interface HubState {
  /** The namespace as this process sees it: every read (catalog, dispatch, ownership checks) is answered from here. */
  readonly registry: Registry;
  readonly tasks: TaskRouter;
  /** The one-process table, for what only one process can serve (result.stream uploads); absent across replicas. */
  readonly localTasks?: TaskTable;
  /** Where finished calls are kept across replicas (the store's ledger); the hub keeps its own in memory without one. */
  readonly usage?: UsageLedger;
  /** Why calls and registers are refused right now (503), or undefined. */
  unavailable(): string | undefined;
  register(user: string, request: RegisterRequest, now: number): Promise<RegisterOutcome | Unavailable>;
  /** False: the session is unknown (404). */
  heartbeat(user: string, request: HeartbeatRequest, now: number): Promise<boolean>;
  leave(user: string, sessionId: string): Promise<boolean | Unavailable>;
  /** Reads what other replicas changed, before answering "unknown session". */
  catchUp(): Promise<void>;
  /** Deletes the sessions past their retention time; returns their ids. */
  collectExpired(now: number): Promise<string[]>;
  close(): Promise<void>;
}
