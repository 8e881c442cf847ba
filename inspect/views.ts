// What the daemon's status looks like to its readers (the status page, `status`, `watch`, the metrics): plain views,
// built by the tracker (tracker.ts) from the actor tree, sent as JSON by the status server.
import type { WorkFrame } from '../src/protocol/index.ts';
import type { CallStats } from './call-stats.ts';

export type ActorKind = 'supervisor' | 'session' | 'provider' | 'task';

export interface TransitionRecord {
  /** ISO time of the transition. */
  at: string;
  kind: ActorKind;
  /** `session`, `provider:<name>`, the task id, or `supervisor`. */
  actor: string;
  /** '' when the actor just started. */
  from: string;
  to: string;
  /**
   * The event that caused it, where known: `xstate.init` on start; a task's end names what ended it. Others say ''
   * (a subscription is told the snapshot, not the event).
   */
  event: string;
}

export interface SessionView {
  state: string;
  /** The raw state value, for drawings. */
  value: unknown;
  /** The task stream is open: the hub can reach this registrar. */
  connected: boolean;
  /** Its first 8 characters: shown in full, anyone who reads it could present it as theirs. */
  sessionId?: string;
  /** Failures since the last stream that opened. */
  attempt: number;
  /** Set while waiting to retry (`retrying`, `connected.backoff`): when the next try starts. */
  retryAt?: string;
  retryDelayMs?: number;
  lastError?: string;
  /** The hub refused us (401/403/409): we retry at the backoff cap. */
  refused: boolean;
  since: string;
}

export interface TaskView {
  taskId: string;
  kind: WorkFrame['kind'];
  state: string;
  streaming: boolean;
  receivedAt: string;
  ageMs: number;
}

export interface ProviderView {
  name: string;
  state: string;
  value: unknown;
  upstream: string;
  queue: number;
  /** Ids of the tasks waiting for a slot, oldest first (at most 20). */
  queued: string[];
  running: TaskView[];
  maxConcurrency: number;
  lastError?: string;
  lastWakeMs?: number;
  since: string;
  /** Its owner paused sharing: new tasks are refused, the hub shows `paused`. */
  paused: boolean;
  /** When a `pause --for` resumes it on its own. */
  pausedUntil?: string;
  /** The last minute's calls. */
  stats: CallStats;
}

export type DaemonPhase = 'starting' | 'running' | 'idle' | 'stopped';

/** A row the daemon publishes, as its config says: what `status` lists. */
export interface PublishedRow {
  name: string;
  type: string;
  model: string;
  visibility: 'public' | 'private';
  poolName?: string;
  /** Set for a `model: "*"` provider (its config name): the row stands for every model its server lists now. */
  catalog?: string;
}

export interface StatusReport {
  service: 'llm-registrar';
  pid: number;
  startedAt: string;
  now: string;
  phase: DaemonPhase;
  /** Why the daemon is idle, when it is. */
  note?: string;
  hub?: { url: string };
  /** The config file the daemon runs on (`up` has none). */
  config?: { path: string };
  published?: PublishedRow[];
  /** Where the token for pause and resume is (the page asks for it; the CLI reads it). */
  control?: { tokenFile: string };
  supervisor?: { state: string; value: unknown };
  session?: SessionView;
  providers: ProviderView[];
  /** Task states counted over the providers' live tasks. */
  tasks: { queued: number; running: number; byState: Record<string, number>; finished: number };
  /** The last transitions, oldest first. */
  transitions: TransitionRecord[];
}

/** What a transition listener is told, with the snapshot that was reached. */
