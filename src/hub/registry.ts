// The hub's published rows, agents and registrar sessions, and who may see what. Pure: no timers, no I/O;
// time comes in as `now` so the watchdog rule (no heartbeat for watchdogMs → inactive) is testable by arithmetic.
import { CAPABILITY_OPENAI, type AgentRow, type HeartbeatRequest, type ProviderRow, type ProviderStatus, type RegisterRequest, type Visibility } from '../protocol/index.ts';

/** What a caller sees: a row's last known status, or `inactive` while its session is past the watchdog. */
export type RowStatus = ProviderStatus | 'inactive';

export interface Viewer {
  user: string;
  admin: boolean;
}

export interface Session {
  readonly id: string;
  readonly user: string;
  lastSeen: number;
  /** Set once the watchdog has reported the session lost; cleared by the next sign of life. */
  lostReported: boolean;
  /** What the hub may send it beyond the base wire (SPEC.md §5), as agreed on its last register. */
  capabilities: readonly string[];
}

export interface LlmRow {
  readonly name: string;
  readonly type: string;
  readonly model: string;
  readonly tier?: ProviderRow['tier'];
  readonly description?: string;
  readonly poolName?: string;
  readonly visibility: Visibility;
  readonly owner: string;
  readonly sessionId: string;
  readonly registeredAt: number;
  /** Last status the registrar reported (initialStatus, heartbeats, a finished wake). */
  status: ProviderStatus;
}

export interface Agent extends Omit<AgentRow, 'visibility'> {
  readonly visibility: Visibility;
  readonly owner: string;
  readonly sessionId: string;
  readonly registeredAt: number;
}

export type RegisterOutcome =
  | {
      ok: true;
      sessionId: string;
      adopted: boolean;
      /** The capabilities both halves speak: what the register answer announces. */
      capabilities: readonly string[];
      /** Names this request took from sessions past the watchdog. */
      takenOver: string[];
      /** Sessions left with nothing published after the takeover: forgotten, so their next heartbeat gets 404. */
      forgotten: string[];
    }
  | { ok: false; status: 400 | 409; message: string };

/** What a caller's `model` names: the candidate rows it may be served by (empty when an agent's LLM is gone). */
export type Target =
  | { kind: 'llm'; name: string; rows: LlmRow[] }
  | { kind: 'pool'; name: string; rows: LlmRow[] }
  | { kind: 'agent'; name: string; agent: Agent; rows: LlmRow[] };

export function canSee(viewer: Viewer, item: { owner: string; visibility: Visibility }): boolean {
  return viewer.admin || item.visibility === 'public' || item.owner === viewer.user;
}

/** The capabilities this hub speaks beyond the base wire. */
const HUB_CAPABILITIES: ReadonlySet<string> = new Set([CAPABILITY_OPENAI]);

export class Registry {
  readonly #sessions = new Map<string, Session>();
  readonly #rows = new Map<string, LlmRow>();
  readonly #agents = new Map<string, Agent>();

  constructor(private readonly watchdogMs: number) {}

  /** Publishes a registrar's rows and agents (SPEC.md §1); adopts its earlier rows when it names its session. */
  register(user: string, request: RegisterRequest, now: number, newSessionId: () => string): RegisterOutcome {
    const known = request.providerSessionId === undefined ? undefined : this.#sessions.get(request.providerSessionId);
    if (known && known.user !== user) {
      return { ok: false, status: 409, message: 'providerSessionId cannot be used with this token: register without it to get a new session' };
    }
    // An unknown id is kept (the hub restarted): the registrar persisted it and will send it again.
    const sessionId = known?.id ?? request.providerSessionId ?? this.#freshSessionId(newSessionId);
    const agents = request.agents ?? [];

    const duplicate = firstDuplicate(request.providers.map((p) => p.name)) ?? firstDuplicate(agents.map((a) => a.name));
    if (duplicate !== undefined) return { ok: false, status: 400, message: `name '${duplicate}' appears twice in the request` };

    for (const { name } of request.providers) {
      const holder = this.#rows.get(name);
      if (holder && holder.sessionId !== sessionId && this.isSessionLive(holder.sessionId, now)) {
        return { ok: false, status: 409, message: `name '${name}' is held by another live session` };
      }
    }
    for (const { name } of agents) {
      const holder = this.#agents.get(name);
      if (holder && holder.sessionId !== sessionId && this.isSessionLive(holder.sessionId, now)) {
        return { ok: false, status: 409, message: `agent name '${name}' is held by another live session` };
      }
    }

    const pinnable = new Set(request.providers.map((p) => p.name));
    for (const row of this.#rows.values()) {
      if (row.visibility === 'public' && row.sessionId !== sessionId) pinnable.add(row.name);
    }
    // A public agent on a private LLM would show every user the private name (its llmName, its 503s).
    const privateHere = new Set(request.providers.filter((p) => p.visibility === 'private').map((p) => p.name));
    for (const [index, agent] of agents.entries()) {
      if (!pinnable.has(agent.llmName)) {
        return {
          ok: false,
          status: 400,
          message: `agents.${index}.llmName: '${agent.llmName}' is neither one of this request's providers nor a public LLM`,
        };
      }
      if (agent.visibility === 'public' && privateHere.has(agent.llmName)) {
        return {
          ok: false,
          status: 400,
          message: `agents.${index}.visibility: a public agent cannot be pinned to the private LLM '${agent.llmName}': make both public, or the agent private`,
        };
      }
    }

    const capabilities = (request.capabilities ?? []).filter((c) => HUB_CAPABILITIES.has(c));
    const session: Session = known ?? { id: sessionId, user, lastSeen: now, lostReported: false, capabilities };
    session.lastSeen = now;
    session.lostReported = false;
    session.capabilities = capabilities;
    this.#sessions.set(sessionId, session);

    for (const [name, row] of this.#rows) if (row.sessionId === sessionId) this.#rows.delete(name);
    for (const [name, agent] of this.#agents) if (agent.sessionId === sessionId) this.#agents.delete(name);

    const takenOver: string[] = [];
    const losers = new Set<string>();
    for (const provider of request.providers) {
      const previous = this.#rows.get(provider.name);
      if (previous) {
        takenOver.push(provider.name);
        losers.add(previous.sessionId);
      }
      const { initialStatus, ...published } = provider;
      this.#rows.set(provider.name, { ...published, owner: user, sessionId, registeredAt: now, status: initialStatus });
    }
    for (const agent of agents) {
      const previous = this.#agents.get(agent.name);
      if (previous) {
        takenOver.push(agent.name);
        losers.add(previous.sessionId);
      }
      this.#agents.set(agent.name, { ...agent, owner: user, sessionId, registeredAt: now });
    }
    const forgotten = [...losers].filter((id) => !this.#publishesAnything(id));
    for (const id of forgotten) this.#sessions.delete(id);
    return { ok: true, sessionId, adopted: known !== undefined, capabilities, takenOver, forgotten };
  }

  /** A sign of life (SPEC.md §2). False when the session is unknown or another user's: the caller answers 404. */
  heartbeat(user: string, request: HeartbeatRequest, now: number): boolean {
    const session = this.sessionOf(user, request.providerSessionId);
    if (!session) return false;
    session.lastSeen = now;
    session.lostReported = false;
    for (const { name, status } of request.providers ?? []) this.setStatus(session.id, name, status);
    return true;
  }

  /** The session with this id if it belongs to `user`; another user's session is as unknown as a missing one. */
  sessionOf(user: string, sessionId: string): Session | undefined {
    const session = this.#sessions.get(sessionId);
    return session && session.user === user ? session : undefined;
  }

  /** Whether the session's registrar takes this capability's frames (SPEC.md §5). */
  speaks(sessionId: string, capability: string): boolean {
    return this.#sessions.get(sessionId)?.capabilities.includes(capability) ?? false;
  }

  isSessionLive(sessionId: string, now: number): boolean {
    const session = this.#sessions.get(sessionId);
    return session !== undefined && now - session.lastSeen < this.watchdogMs;
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
    const row = this.#rows.get(name);
    return row?.sessionId === sessionId ? row : undefined;
  }

  setStatus(sessionId: string, name: string, status: ProviderStatus): void {
    const row = this.currentRow(name, sessionId);
    if (row) row.status = status;
  }

  rowNamesOf(sessionId: string): string[] {
    return [...this.#rows.values()].filter((row) => row.sessionId === sessionId).map((row) => row.name);
  }

  visibleRows(viewer: Viewer): LlmRow[] {
    return [...this.#rows.values()].filter((row) => canSee(viewer, row));
  }

  visibleAgents(viewer: Viewer): Agent[] {
    return [...this.#agents.values()].filter((agent) => canSee(viewer, agent));
  }

  /**
   * What `model` names for this viewer, in this order: an LLM, a pool, an agent. Rows the viewer may not see are
   * skipped as if absent, so the answer never tells a private row exists.
   */
  resolve(viewer: Viewer, model: string): Target | undefined {
    const llmOrPool = this.#resolveLlmOrPool(viewer, model);
    if (llmOrPool) return llmOrPool;
    const agent = this.#agents.get(model);
    if (agent && canSee(viewer, agent)) {
      return { kind: 'agent', name: model, agent, rows: this.#resolveLlmOrPool(viewer, agent.llmName)?.rows ?? [] };
    }
    return undefined;
  }

  /** Sessions past the watchdog that were not reported yet; each is reported once until it comes back. */
  collectLost(now: number): Session[] {
    const lost: Session[] = [];
    for (const session of this.#sessions.values()) {
      if (!session.lostReported && !this.isSessionLive(session.id, now)) {
        session.lostReported = true;
        lost.push(session);
      }
    }
    return lost;
  }

  #publishesAnything(sessionId: string): boolean {
    for (const row of this.#rows.values()) if (row.sessionId === sessionId) return true;
    for (const agent of this.#agents.values()) if (agent.sessionId === sessionId) return true;
    return false;
  }

  #freshSessionId(newSessionId: () => string): string {
    let id = newSessionId();
    while (this.#sessions.has(id)) id = newSessionId();
    return id;
  }

  #resolveLlmOrPool(viewer: Viewer, name: string): Target | undefined {
    const row = this.#rows.get(name);
    if (row && canSee(viewer, row)) return { kind: 'llm', name, rows: [row] };
    const members = [...this.#rows.values()].filter((r) => r.poolName === name && canSee(viewer, r));
    return members.length > 0 ? { kind: 'pool', name, rows: members } : undefined;
  }
}

function firstDuplicate(names: string[]): string | undefined {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}
