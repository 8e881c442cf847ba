// Follows the daemon's actor tree and keeps what the status page, `status`, the metrics and the progress line show:
// each machine's state, the queues, the last transitions. It subscribes to the supervisor, the session and the
// providers (a few compares per snapshot), hears each task once, when it ends (`task.ended`), and reads the heavy
// parts (queues, running tasks and their states) only when someone asks. No XState inspection: that costs every
// actor every event, one task's dozen transitions included, whether anyone looks or not.
import type { AnyActorRef, InspectionEvent, Observer, SnapshotFrom, Subscription } from 'xstate';
import type { ProviderContext } from '../machines/provider.ts';
import { catalogNames, queuedIds, taskFacts } from '../machines/selectors.ts';
import type { supervisorMachine } from '../machines/supervisor.ts';
import type { TaskContext, TaskEnded } from '../machines/task.ts';
import { redactUrl, shortSessionId } from '../src/redact.ts';
import { CallWindow } from './call-stats.ts';
import { stateName } from './machine-graph.ts';
import type { ActorKind, DaemonPhase, ProviderView, PublishedRow, SessionView, StatusReport, TaskView, TransitionRecord } from './views.ts';

export interface TransitionNotice extends TransitionRecord {
  context: Record<string, unknown>;
  status: string;
}

/** The parts of an actor the tracker reads. */
interface ActorLike {
  id: string;
  getSnapshot(): unknown;
}

interface Tracked {
  kind: ActorKind;
  ref: ActorLike;
  state: string;
  since: number;
  signature: string;
  subscriptions: Subscription[];
}

interface MachineSnapshotLike {
  value: unknown;
  status: string;
  context: Record<string, unknown>;
  children?: Record<string, (ActorLike & { src?: unknown }) | undefined>;
}

/** A provider's live tasks by task id: its children spawned as tasks (its probe, say, is a child too). */
function taskChildren(snapshot: MachineSnapshotLike): Map<string, ActorLike> {
  const tasks = new Map<string, ActorLike>();
  for (const ref of Object.values(snapshot.children ?? {})) {
    // Named by a reused actor id (machines/records.ts TaskSlots): the task id is in its context.
    if (ref?.src === 'task') tasks.set((ref.getSnapshot() as MachineSnapshotLike).context.taskId as string, ref);
  }
  return tasks;
}

export const TRANSITIONS_KEPT = 50;
const QUEUED_SHOWN = 20;

/** What ended a task, by the event its last state was entered on, as the transitions list names it. */
const END_CAUSES: Record<TaskEnded['outcome'], string> = { done: 'task.done', failed: 'task.failed', cancelled: 'task.cancelled' };

/** What a change of it should reach the page for: the state, and what the page shows beside it. */
function signatureOf(kind: ActorKind, state: string, context: Record<string, unknown>): string {
  switch (kind) {
    case 'session':
      return `${state}|${String(context.sessionId)}|${String(context.attempt)}|${String(context.lastError)}`;
    case 'provider':
      return `${state}|${(context.queue as unknown[]).length}|${(context.running as unknown[]).length}|${String(context.lastError)}|${String(context.paused)}|${String(context.pausedUntil)}`;
    default:
      return state;
  }
}

export class StatusTracker {
  readonly startedAt = Date.now();
  #phase: DaemonPhase = 'starting';
  #note?: string;
  #hubUrl?: string;
  #configPath?: string;
  #published?: PublishedRow[];
  #tokenFile?: string;
  readonly #calls: CallWindow;
  /** Completion tokens told for streamed tasks still running (their result does not carry a usage). */
  readonly #streamTokens = new Map<string, number>();
  #root?: Tracked;
  readonly #tracked = new Map<ActorLike, Tracked>();
  /** The providers record last seen in the supervisor's context: a new one means providers came or went. */
  #providersSeen?: unknown;
  #session?: Tracked;
  readonly #providers = new Map<string, Tracked>();
  readonly #transitions: TransitionRecord[] = [];
  #finished = 0;
  readonly #changeListeners = new Set<() => void>();
  readonly #transitionListeners = new Set<(notice: TransitionNotice) => void>();

  constructor(options: { hubUrl?: string; configPath?: string; published?: PublishedRow[]; tokenFile?: string; statsWindowMs?: number } = {}) {
    this.#hubUrl = options.hubUrl === undefined ? undefined : redactUrl(options.hubUrl);
    this.#configPath = options.configPath;
    this.#published = options.published;
    this.#tokenFile = options.tokenFile;
    this.#calls = new CallWindow(options.statsWindowMs);
  }

  /** A streamed task told its completion tokens (its usage chunk): counted when it ends. */
  noteTokens(taskId: string, tokens: number): void {
    this.#streamTokens.set(taskId, tokens);
  }

  /** The hub URL in use changed (a list of replicas in `hub.url`): status shows the one called now. */
  setHubUrl(url: string): void {
    this.#hubUrl = redactUrl(url);
    this.#changed();
  }

  /** The daemon has nothing to publish and stays idle: say why on the page. */
  markIdle(note: string): void {
    this.#phase = 'idle';
    this.#note = note;
    this.#changed();
  }

  markStopped(): void {
    this.#phase = 'stopped';
    this.#changed();
  }

  /** Called after anything the page shows changed (often: coalesce before doing real work). */
  onChange(listener: () => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Called on every state change of the supervisor, the session, a provider or a task. */
  onTransition(listener: (notice: TransitionNotice) => void): () => void {
    this.#transitionListeners.add(listener);
    return () => this.#transitionListeners.delete(listener);
  }

  /** The live providers' actors, for gauges read at scrape time. */
  providerSnapshots(): { name: string; context: Record<string, unknown> }[] {
    return [...this.#providers].map(([name, tracked]) => ({ name, context: (tracked.ref.getSnapshot() as MachineSnapshotLike).context }));
  }

  /** The rows published now: a `model: "*"` provider's row becomes one row per model its server lists at this moment. */
  published(): PublishedRow[] {
    const root = this.#root?.ref.getSnapshot() as SnapshotFrom<typeof supervisorMachine> | undefined;
    const names = (catalog: string) => (root ? catalogNames(root, catalog) : []);
    return (this.#published ?? []).flatMap(({ catalog, ...row }) => (catalog === undefined ? [row] : names(catalog).map((name) => ({ ...row, name, model: name }))));
  }

  sessionView(): SessionView | undefined {
    const tracked = this.#session;
    if (!tracked) return undefined;
    const snapshot = tracked.ref.getSnapshot() as MachineSnapshotLike;
    const context = snapshot.context;
    const waiting = tracked.state === 'retrying' || tracked.state === 'connected.backoff';
    const delay = context.retryDelayMs as number;
    return {
      state: tracked.state,
      value: snapshot.value,
      connected: tracked.state === 'connected.streaming.open',
      ...(context.sessionId !== undefined ? { sessionId: shortSessionId(context.sessionId as string) } : {}),
      attempt: context.attempt as number,
      ...(waiting ? { retryDelayMs: delay, retryAt: new Date(tracked.since + delay).toISOString() } : {}),
      ...(context.lastError !== undefined ? { lastError: context.lastError as string } : {}),
      refused: context.refused === true,
      since: new Date(tracked.since).toISOString(),
    };
  }

  report(): StatusReport {
    const now = Date.now();
    const providers: ProviderView[] = [];
    const byState: Record<string, number> = {};
    let queued = 0;
    let running = 0;
    for (const [name, tracked] of this.#providers) {
      const snapshot = tracked.ref.getSnapshot() as MachineSnapshotLike;
      const context = snapshot.context as unknown as ProviderContext;
      const tasks = taskChildren(snapshot);
      for (const ref of tasks.values()) {
        const state = stateName((ref.getSnapshot() as MachineSnapshotLike).value);
        byState[state] = (byState[state] ?? 0) + 1;
      }
      queued += context.queue.length;
      running += context.running.length;
      providers.push({
        name,
        state: tracked.state,
        value: snapshot.value,
        upstream: context.upstream,
        queue: context.queue.length,
        queued: queuedIds(context, QUEUED_SHOWN),
        running: context.running.flatMap((taskId) => {
          const ref = tasks.get(taskId);
          return ref ? [taskView(ref, now)] : [];
        }),
        maxConcurrency: context.maxConcurrency,
        ...(context.lastError !== undefined ? { lastError: context.lastError } : {}),
        ...(context.lastWakeMs !== undefined ? { lastWakeMs: context.lastWakeMs } : {}),
        since: new Date(tracked.since).toISOString(),
        paused: context.paused === true,
        ...(context.paused && context.pausedUntil !== undefined ? { pausedUntil: new Date(context.pausedUntil).toISOString() } : {}),
        stats: this.#calls.stats(name, now),
      });
    }
    this.#calls.keepOnly(new Set(this.#providers.keys()));
    const root = this.#root;
    const session = this.sessionView();
    return {
      service: 'llm-registrar',
      pid: process.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      now: new Date(now).toISOString(),
      phase: this.#phase,
      ...(this.#note ? { note: this.#note } : {}),
      ...(this.#hubUrl ? { hub: { url: this.#hubUrl } } : {}),
      ...(this.#configPath ? { config: { path: this.#configPath } } : {}),
      ...(this.#published ? { published: this.published() } : {}),
      ...(this.#tokenFile ? { control: { tokenFile: this.#tokenFile } } : {}),
      ...(root ? { supervisor: { state: root.state, value: (root.ref.getSnapshot() as MachineSnapshotLike).value } } : {}),
      ...(session ? { session } : {}),
      providers,
      tasks: { queued, running, byState, finished: this.#finished },
      transitions: [...this.#transitions],
    };
  }

  /** Follow a daemon from its supervisor (startDaemon's `follow`, before it starts): a new one replaces the last. */
  follow(root: AnyActorRef): void {
    // A new daemon in this process (a restart in tests): forget the old tree, keep history and counts.
    for (const tracked of this.#tracked.values()) this.#forget(tracked);
    this.#session = undefined;
    this.#providersSeen = undefined;
    this.#phase = 'running';
    this.#note = undefined;
    const tracked = this.#track('supervisor', root);
    this.#root = tracked;
    tracked.subscriptions.push(root.on('task.ended', (event) => this.#onTaskEnded(event as TaskEnded)));
    tracked.subscriptions.push(
      root.subscribe({
        next: (snapshot) => {
          this.#onSnapshot(tracked, snapshot as MachineSnapshotLike);
          this.#followChildren(snapshot as MachineSnapshotLike);
        },
        complete: () => this.#onSnapshot(tracked, root.getSnapshot() as MachineSnapshotLike),
        error: () => this.#onSnapshot(tracked, root.getSnapshot() as MachineSnapshotLike),
      }),
    );
  }

  /** The session and the providers, as the supervisor's snapshot names them (reference compares when nothing changed). */
  #followChildren(snapshot: MachineSnapshotLike): void {
    const session = snapshot.children?.session as AnyActorRef | undefined;
    if (session && session !== this.#session?.ref) this.#session = this.#followChild('session', session);
    const providers = snapshot.context.providers as Record<string, AnyActorRef>;
    if (providers === this.#providersSeen) return;
    this.#providersSeen = providers;
    for (const [name, ref] of Object.entries(providers)) {
      if (this.#providers.get(name)?.ref === ref) continue;
      const tracked = this.#followChild('provider', ref);
      tracked.subscriptions.push(ref.on('task.ended', (event) => this.#onTaskEnded(event as TaskEnded)));
      this.#providers.set(name, tracked);
    }
  }

  #followChild(kind: ActorKind, ref: AnyActorRef): Tracked {
    const tracked = this.#track(kind, ref);
    const settle = () => this.#onSnapshot(tracked, ref.getSnapshot() as MachineSnapshotLike);
    tracked.subscriptions.push(ref.subscribe({ next: (snapshot) => this.#onSnapshot(tracked, snapshot as MachineSnapshotLike), complete: settle, error: settle }));
    // Started already (children start with their parent, before it is told anything): what it is now is its start.
    settle();
    return tracked;
  }

  #track(kind: ActorKind, ref: AnyActorRef): Tracked {
    const tracked: Tracked = { kind, ref, state: '', since: Date.now(), signature: '', subscriptions: [] };
    this.#tracked.set(ref, tracked);
    return tracked;
  }

  #forget(tracked: Tracked): void {
    for (const subscription of tracked.subscriptions) subscription.unsubscribe();
    this.#tracked.delete(tracked.ref);
    if (tracked.kind === 'provider') {
      for (const [name, provider] of this.#providers) if (provider === tracked) this.#providers.delete(name);
    }
    if (tracked === this.#session) this.#session = undefined;
  }

  /** A task ended (told once, by the machine that stopped it): its one transition on the list, and its call. */
  #onTaskEnded({ outcome, task }: TaskEnded): void {
    const at = Date.now();
    const record: TransitionRecord = { at: new Date(at).toISOString(), kind: 'task', actor: task.taskId, from: '', to: outcome, event: END_CAUSES[outcome] };
    this.#remember(record);
    // One notice for every listener, built field by field: a spread of the record per listener was most of this
    // method's time.
    if (this.#transitionListeners.size > 0) {
      const notice: TransitionNotice = { at: record.at, kind: 'task', actor: record.actor, from: '', to: outcome, event: record.event, context: task as unknown as Record<string, unknown>, status: 'stopped' };
      for (const listener of this.#transitionListeners) listener(notice);
    }
    this.#recordCall(task as unknown as Record<string, unknown>, outcome, at);
    this.#finished++;
    this.#changed();
  }

  #remember(record: TransitionRecord): void {
    this.#transitions.push(record);
    if (this.#transitions.length > TRANSITIONS_KEPT) this.#transitions.shift();
  }

  #onSnapshot(tracked: Tracked, snapshot: MachineSnapshotLike): void {
    if (!this.#tracked.has(tracked.ref)) return;
    const state = stateName(snapshot.value);
    const signature = signatureOf(tracked.kind, state, snapshot.context);
    if (state !== tracked.state) {
      const at = Date.now();
      const actor = tracked.kind === 'supervisor' ? 'supervisor' : tracked.ref.id;
      const record: TransitionRecord = { at: new Date(at).toISOString(), kind: tracked.kind, actor, from: tracked.state, to: state, event: tracked.state === '' ? 'xstate.init' : '' };
      tracked.state = state;
      tracked.since = at;
      this.#remember(record);
      if (this.#transitionListeners.size > 0) {
        const notice: TransitionNotice = { ...record, context: snapshot.context, status: snapshot.status };
        for (const listener of this.#transitionListeners) listener(notice);
      }
    }
    if (snapshot.status !== 'active') {
      this.#forget(tracked);
      if (tracked === this.#root) this.#phase = 'stopped';
    }
    if (signature !== tracked.signature || snapshot.status !== 'active') {
      tracked.signature = signature;
      this.#changed();
    }
  }

  /** A task ended: a call of its provider, failed or not (a wake is not a call). */
  #recordCall(context: Record<string, unknown>, state: string, at: number): void {
    const task = taskFacts(context as unknown as TaskContext);
    const tokens = this.#streamTokens.get(task.taskId) ?? usageTokens(context.result);
    this.#streamTokens.delete(task.taskId);
    if (task.kind === 'wake' || !this.#providers.has(task.llmName)) return;
    this.#calls.record(task.llmName, { at, ms: at - (task.receivedAt ?? at), failed: state === 'failed', ...(tokens === undefined ? {} : { tokens }) });
  }

  #changed(): void {
    for (const listener of this.#changeListeners) listener();
  }
}

/** `completion_tokens` of a chat.completion result (an OpenAI body, or the base wire's envelope). */
function usageTokens(result: unknown): number | undefined {
  const tokens = (result as { body?: { usage?: { completion_tokens?: unknown } } } | undefined)?.body?.usage?.completion_tokens;
  return typeof tokens === 'number' && Number.isFinite(tokens) && tokens >= 0 ? tokens : undefined;
}

function taskView(ref: ActorLike, now: number): TaskView {
  const snapshot = ref.getSnapshot() as MachineSnapshotLike;
  const task = taskFacts(snapshot.context as unknown as TaskContext);
  // A provider's tasks all have a frame (only the supervisor refuses tasks without one).
  const receivedAt = task.receivedAt ?? now;
  return {
    taskId: task.taskId,
    kind: task.kind ?? 'infer',
    state: stateName(snapshot.value),
    streaming: task.streaming,
    receivedAt: new Date(receivedAt).toISOString(),
    ageMs: now - receivedAt,
  };
}

/** Several inspection observers as one (the status tracker and the Stately inspector, say); undefined for none. */
export function combineObservers(...observers: (Observer<InspectionEvent> | undefined)[]): Observer<InspectionEvent> | undefined {
  const present = observers.filter((observer): observer is Observer<InspectionEvent> => observer !== undefined);
  if (present.length <= 1) return present[0];
  return { next: (event) => present.forEach((observer) => observer.next?.(event)) };
}
