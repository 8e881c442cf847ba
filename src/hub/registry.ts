// The hub's registrar state: sessions (owned, verifiable ids) and the one namespace they publish into, with the rules
// of SPEC.md "One namespace, owned": who may claim a name, when a dead holder gives it up, what is bounded and when
// it is collected. Pure: no timers, no I/O; time comes in as `now`.
import { CAPABILITY_OPENAI, CAPABILITY_RESULT_STREAM, type HeartbeatRequest, type ProviderStatus, type RegisterRequest } from '../protocol/index.ts';
import { hubError, HUB_ERRORS, type HubError } from './error-codes.ts';
import { Namespace, type Agent, type LlmRow, type Target, type Viewer } from './namespace.ts';
import { publicationKey } from './publication.ts';
import type { SessionIds } from './session-ids.ts';
import { SessionTable, type Session } from './sessions.ts';

export { canSee, type Agent, type LlmRow, type Target, type Viewer } from './namespace.ts';
export type { Session } from './sessions.ts';

/** What a caller sees: a row's last known status, or `inactive` while its session is past the watchdog or left. */
export type RowStatus = ProviderStatus | 'inactive';

export interface RegistryOptions {
  watchdogMs: number;
  retentionMs: number;
  maxRowsPerSession: number;
  maxSessionsPerUser: number;
  ids: SessionIds;
  /** Default openai.v1 and result.stream: the capabilities this hub offers beyond the base wire. */
  capabilities?: readonly string[];
}

/** A session with everything it publishes, as replicas of one hub store and replay it (SPEC.md "beyond one machine"). */
export interface SessionDocument {
  user: string;
  capabilities: readonly string[];
  lastSeen: number;
  left: boolean;
  /** Absent in documents written before it existed: taken as heard from, so no replica replaces what it cannot judge. */
  confirmed?: boolean;
  rows: LlmRow[];
  agents: Agent[];
}

export type RegisterOutcome =
  | {
      ok: true;
      sessionId: string;
      adopted: boolean;
      /** The capabilities both halves speak: what the register answer announces (SPEC.md §5). */
      capabilities: readonly string[];
      /** Names this request took from sessions past the watchdog (or left). */
      takenOver: string[];
      /** Sessions left with nothing published after the takeover: deleted, so their next heartbeat gets 404. */
      forgotten: string[];
      /** A dead session of the same user deleted to stay within maxSessionsPerUser. */
      evicted: string[];
      /** Sessions that lost names to this request but still publish something: what a replica writes besides its own. */
      trimmed: string[];
    }
  | ({ ok: false } & HubError);

export const FOREIGN_SESSION = HUB_ERRORS.session_foreign.message();

/** The capabilities this hub speaks beyond the base wire, unless told otherwise. */
const HUB_CAPABILITIES: readonly string[] = [CAPABILITY_OPENAI, CAPABILITY_RESULT_STREAM];

type Kind = 'llm' | 'pool' | 'agent';
const KIND_WORDS: Record<Kind, string> = { llm: 'an LLM', pool: 'a pool', agent: 'an agent' };

export class Registry {
  readonly #sessions: SessionTable;
  readonly #names = new Namespace();
  readonly #options: RegistryOptions;
  readonly #capabilities: ReadonlySet<string>;

  constructor(options: RegistryOptions) {
    this.#options = options;
    this.#capabilities = new Set(options.capabilities ?? HUB_CAPABILITIES);
    this.#sessions = new SessionTable(options.watchdogMs);
  }

  /** Publishes a registrar's rows and agents (SPEC.md §1); adopts its earlier rows when it names its session. */
  register(user: string, request: RegisterRequest, now: number): RegisterOutcome {
    const agents = request.agents ?? [];
    const invalid = this.#requestProblem(request);
    if (invalid !== undefined) return { ok: false, ...hubError('invalid_request', invalid) };

    const named = request.providerSessionId;
    let session = named === undefined ? undefined : this.#sessions.get(named);
    // Known to another user, or unknown and not issued to this one (a hub restart keeps the key, so ours verify).
    if (named !== undefined && (session ? session.user !== user : !this.#options.ids.belongsTo(named, user))) {
      return { ok: false, ...hubError('session_foreign') };
    }
    const sessionId = named ?? this.#freshId(user);
    const ghost = named === undefined ? this.#isOwnGhost(user, request) : () => false;

    const takeover: Array<{ name: string; sessionId: string }> = [];
    /** The name when another live session holds it, else undefined (and what a dead holder gives up is noted). */
    const claim = (name: string, kind: Kind): string | undefined => {
      for (const holder of this.#names.holders(name)) {
        if (holder.sessionId === sessionId) continue;
        // A pool stacks the rows of its owner, from any of their sessions, and of nobody else.
        if (kind === 'pool' && holder.kind === 'pool' && holder.owner === user) continue;
        if (this.isSessionLive(holder.sessionId, now) && !ghost(holder.sessionId)) return name;
        takeover.push({ name, sessionId: holder.sessionId });
      }
      return undefined;
    };
    for (const provider of request.providers) {
      const held = claim(provider.name, 'llm') ?? (provider.poolName === undefined ? undefined : claim(provider.poolName, 'pool'));
      if (held !== undefined) return { ok: false, ...hubError('name_taken', held) };
    }
    for (const agent of agents) {
      const held = claim(agent.name, 'agent');
      if (held !== undefined) return { ok: false, ...hubError('name_taken', held) };
    }

    const pinned = this.#pinProblemOrOwners(user, sessionId, request);
    if (typeof pinned === 'string') return { ok: false, ...hubError('invalid_request', pinned) };

    let evict: Session | undefined;
    if (!session && this.#sessions.countOf(user) >= this.#options.maxSessionsPerUser) {
      evict = this.#sessions.oldestDeadOf(user, now);
      if (!evict) return { ok: false, ...hubError('too_many_sessions', this.#options.maxSessionsPerUser) };
    }

    const evicted: string[] = [];
    if (evict) {
      this.#delete(evict.id);
      evicted.push(evict.id);
    }
    if (!session) {
      session = { id: sessionId, user, capabilities: [], lastSeen: now, left: false, lostReported: false, confirmed: false };
      this.#sessions.add(session);
    }
    // A register that names its session comes from the registrar that holds the id.
    if (named !== undefined) session.confirmed = true;
    const capabilities = (request.capabilities ?? []).filter((capability) => this.#capabilities.has(capability));
    session.capabilities = capabilities;
    this.#sessions.touch(session, now);
    this.#names.clearSession(sessionId);

    const takenOver = new Set<string>();
    const losers = new Set<string>();
    for (const { name, sessionId: loser } of takeover) {
      this.#names.release(name, loser);
      takenOver.add(name);
      losers.add(loser);
    }
    for (const { initialStatus, ...published } of request.providers) {
      this.#names.addRow({ ...published, owner: user, sessionId, registeredAt: now, status: initialStatus });
    }
    agents.forEach((agent, index) => {
      this.#names.addAgent({ ...agent, owner: user, sessionId, registeredAt: now, llmOwner: pinned[index] ?? user });
    });
    const forgotten = [...losers].filter((id) => this.#sessions.get(id) !== undefined && !this.#names.publishesAnything(id));
    for (const id of forgotten) this.#sessions.delete(id);
    const trimmed = [...losers].filter((id) => this.#sessions.get(id) !== undefined);
    return { ok: true, sessionId, adopted: named !== undefined, capabilities, takenOver: [...takenOver], forgotten, evicted, trimmed };
  }

  /** The session and what it publishes, for another replica; undefined when it is gone. */
  exportSession(sessionId: string): SessionDocument | undefined {
    const session = this.#sessions.get(sessionId);
    if (!session) return undefined;
    const { rows, agents } = this.#names.publishedBy(sessionId);
    return {
      user: session.user,
      capabilities: session.capabilities,
      lastSeen: session.lastSeen,
      left: session.left,
      confirmed: session.confirmed,
      rows: rows.map((row) => ({ ...row })),
      agents,
    };
  }

  /**
   * Takes a session as another replica decided it, unconditionally: replay never re-decides, because liveness differs
   * between replicas. The later of both sign-of-life times is kept.
   */
  importSession(sessionId: string, doc: SessionDocument): void {
    let session = this.#sessions.get(sessionId);
    if (session && session.user !== doc.user) {
      this.removeSession(sessionId);
      session = undefined;
    }
    if (!session) {
      session = { id: sessionId, user: doc.user, capabilities: [], lastSeen: doc.lastSeen, left: doc.left, lostReported: false, confirmed: false };
      this.#sessions.add(session);
    }
    // Heard from here or there: once confirmed, a session stays so.
    session.confirmed ||= doc.confirmed ?? true;
    session.capabilities = doc.capabilities;
    session.lastSeen = Math.max(session.lastSeen, doc.lastSeen);
    session.left = doc.left;
    this.#names.clearSession(sessionId);
    for (const row of doc.rows) this.#names.addRow({ ...row, sessionId });
    for (const agent of doc.agents) this.#names.addAgent({ ...agent, sessionId });
  }

  removeSession(sessionId: string): void {
    this.#delete(sessionId);
  }

  sessionIds(): string[] {
    return this.#sessions.ids();
  }

  /** A heartbeat another replica took: the session is live here too (unknown sessions are ignored). */
  noteSignOfLife(sessionId: string, at: number, providers: readonly { name: string; status: ProviderStatus }[]): void {
    const session = this.#sessions.get(sessionId);
    if (!session || at < session.lastSeen) return;
    this.#sessions.touch(session, at);
    session.confirmed = true;
    for (const { name, status } of providers) this.setStatus(sessionId, name, status);
  }

  /** A sign of life (SPEC.md §2). False when the session is unknown or another user's: the caller answers 404. */
  heartbeat(user: string, request: HeartbeatRequest, now: number): boolean {
    const session = this.sessionOf(user, request.providerSessionId);
    if (!session) return false;
    this.#sessions.touch(session, now);
    session.confirmed = true;
    for (const { name, status } of request.providers ?? []) this.setStatus(session.id, name, status);
    return true;
  }

  /** The token (its digest) the session's registrar came with just now, for cutting the session when it is revoked. */
  noteToken(sessionId: string, digest: string): void {
    const session = this.#sessions.get(sessionId);
    if (session) session.token = digest;
  }

  /** The sessions whose registrar last came with one of these tokens. */
  sessionsWithToken(digests: ReadonlySet<string>): Session[] {
    return this.#sessions.withToken(digests);
  }

  /** Its registrar showed it holds the id (it opened the task stream, posted a result): the session is no ghost. */
  confirm(sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    if (session) session.confirmed = true;
  }

  /** A draining registrar is done (SPEC.md §6): its rows are inactive at once. False when the session is not the user's. */
  leave(user: string, sessionId: string): boolean {
    const session = this.sessionOf(user, sessionId);
    if (!session) return false;
    session.left = true;
    session.confirmed = true;
    // The leave route fails what is pending; the watchdog has nothing left to report.
    session.lostReported = true;
    return true;
  }

  /** The session with this id if it belongs to `user`; another user's session is as unknown as a missing one. */
  sessionOf(user: string, sessionId: string): Session | undefined {
    const session = this.#sessions.get(sessionId);
    return session && session.user === user ? session : undefined;
  }

  sessionById(sessionId: string): Session | undefined {
    return this.#sessions.get(sessionId);
  }

  /** Whether the session's registrar takes this capability's frames (SPEC.md §5). */
  speaks(sessionId: string, capability: string): boolean {
    return this.#sessions.get(sessionId)?.capabilities.includes(capability) ?? false;
  }

  isSessionLive(sessionId: string, now: number): boolean {
    const session = this.#sessions.get(sessionId);
    return session !== undefined && this.#sessions.isLive(session, now);
  }

  statusOf(row: LlmRow, now: number): RowStatus {
    return this.isSessionLive(row.sessionId, now) ? row.status : 'inactive';
  }

  /** Healthy: its session is live and the row can take work (a hibernating row is woken first). */
  isHealthy(row: LlmRow, now: number): boolean {
    const status = this.statusOf(row, now);
    return status === 'active' || status === 'hibernating';
  }

  /** The row published under `name` now, if it still belongs to `sessionId` (it may have been re-registered). */
  currentRow(name: string, sessionId: string): LlmRow | undefined {
    const row = this.#names.row(name);
    return row?.sessionId === sessionId ? row : undefined;
  }

  setStatus(sessionId: string, name: string, status: ProviderStatus): void {
    const row = this.currentRow(name, sessionId);
    if (row) row.status = status;
  }

  rowNamesOf(sessionId: string): string[] {
    return this.#names.rowNamesOf(sessionId);
  }

  visibleRows(viewer: Viewer): LlmRow[] {
    return this.#names.visibleRows(viewer);
  }

  visibleAgents(viewer: Viewer): Agent[] {
    return this.#names.visibleAgents(viewer);
  }

  /** What `model` names for this viewer: exactly one thing, an LLM, a pool or an agent, or nothing it may see. */
  resolve(viewer: Viewer, model: string): Target | undefined {
    return this.#names.resolve(viewer, model);
  }

  /** Sessions past the watchdog that were not reported yet; each is reported once until it comes back. */
  collectLost(now: number): Session[] {
    return this.#sessions.collectLost(now);
  }

  /** The sessions collectExpired would delete now. */
  expiredSessions(now: number): string[] {
    return this.#sessions.expired(now, this.#options.retentionMs).map((session) => session.id);
  }

  /** Deletes the sessions not heard from for retentionMs, with everything they publish; returns their ids. */
  collectExpired(now: number): string[] {
    const expired = this.#sessions.expired(now, this.#options.retentionMs).map((session) => session.id);
    for (const id of expired) this.#delete(id);
    return expired;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  #delete(sessionId: string): void {
    this.#names.clearSession(sessionId);
    this.#sessions.delete(sessionId);
  }

  /**
   * Which sessions a fresh register may replace although they are live: the same user's, never heard from since their
   * register, publishing exactly what this request does. That is a register whose answer its registrar never read
   * (it timed out and sent it again); without this the retry would get 409 until the watchdog. The ghost is replaced
   * rather than its id handed out again, so two registrars never share a session: at worst a registrar whose first
   * moments overlap an identical register of the same user is told 404 and registers again, and the one that streams
   * first keeps the names.
   */
  #isOwnGhost(user: string, request: RegisterRequest): (sessionId: string) => boolean {
    let wanted: string | undefined;
    return (sessionId) => {
      const session = this.#sessions.get(sessionId);
      if (!session || session.user !== user || session.confirmed) return false;
      wanted ??= publicationKey(request.providers, request.agents ?? []);
      const { rows, agents } = this.#names.publishedBy(sessionId);
      return publicationKey(rows, agents) === wanted;
    };
  }

  #freshId(user: string): string {
    let id = this.#options.ids.issue(user);
    while (this.#sessions.get(id)) id = this.#options.ids.issue(user);
    return id;
  }

  /** What is wrong with the request on its own: too many rows, or a name used for two things. */
  #requestProblem(request: RegisterRequest): string | undefined {
    const agents = request.agents ?? [];
    const rows = request.providers.length + agents.length;
    if (rows > this.#options.maxRowsPerSession) {
      return `providers: ${rows} LLMs and agents in one register, more than the hub keeps for a session (maxRowsPerSession ${this.#options.maxRowsPerSession}): publish fewer`;
    }
    const kinds = new Map<string, Kind>();
    const use = (name: string, kind: Kind, field: string): string | undefined => {
      const earlier = kinds.get(name);
      kinds.set(name, kind);
      if (earlier === undefined || (earlier === 'pool' && kind === 'pool')) return undefined;
      if (earlier === kind) return `name '${name}' appears twice in the request`;
      return `${field}: '${name}' is also ${KIND_WORDS[earlier]} in this request: LLMs, pools and agents share one namespace`;
    };
    for (const [index, provider] of request.providers.entries()) {
      const problem = use(provider.name, 'llm', `providers.${index}.name`) ?? (provider.poolName === undefined ? undefined : use(provider.poolName, 'pool', `providers.${index}.poolName`));
      if (problem !== undefined) return problem;
    }
    for (const [index, agent] of agents.entries()) {
      const problem = use(agent.name, 'agent', `agents.${index}.name`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }

  /** Each agent's LLM owner, or why an agent may not be pinned where it is. */
  #pinProblemOrOwners(user: string, sessionId: string, request: RegisterRequest): string | string[] {
    const here = new Map(request.providers.map((p) => [p.name, p.visibility]));
    const owners: string[] = [];
    for (const [index, agent] of (request.agents ?? []).entries()) {
      const visibility = here.get(agent.llmName);
      if (visibility !== undefined) {
        // A public agent on a private LLM would show every user the private name (its llmName, its 503s).
        if (agent.visibility === 'public' && visibility === 'private') {
          return `agents.${index}.visibility: a public agent cannot be pinned to the private LLM '${agent.llmName}': make both public, or the agent private`;
        }
        owners.push(user);
        continue;
      }
      const row = this.#names.row(agent.llmName);
      if (!row || row.visibility !== 'public' || row.sessionId === sessionId) {
        return `agents.${index}.llmName: '${agent.llmName}' is neither one of this request's providers nor a public LLM`;
      }
      owners.push(row.owner);
    }
    return owners;
  }
}
