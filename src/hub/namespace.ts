// The hub's one namespace (SPEC.md, "One namespace, owned"): LLM rows, pools and agents, a name one thing, each
// indexed by name, by pool and by session so a register touches only its own rows. Pure; who may claim what is
// decided by the registry, what a caller's `model` names is decided here.
import type { AgentRow, ProviderRow, ProviderStatus, Visibility } from '../protocol/index.ts';

export interface Viewer {
  user: string;
  admin: boolean;
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
  /** Whose LLM `llmName` was when the agent was published: a later holder of that name does not inherit it. */
  readonly llmOwner: string;
}

/** What a caller's `model` names: the candidate rows it may be served by (empty when an agent's LLM is gone). */
export type Target =
  | { kind: 'llm'; name: string; rows: LlmRow[] }
  | { kind: 'pool'; name: string; rows: LlmRow[] }
  | { kind: 'agent'; name: string; agent: Agent; rows: LlmRow[] };

/** Something that holds a name: a row, a pool member, or an agent. */
export interface Holder {
  readonly kind: 'llm' | 'pool' | 'agent';
  readonly owner: string;
  readonly sessionId: string;
}

export function canSee(viewer: Viewer, item: { owner: string; visibility: Visibility }): boolean {
  return viewer.admin || item.visibility === 'public' || item.owner === viewer.user;
}

export class Namespace {
  readonly #rows = new Map<string, LlmRow>();
  readonly #agents = new Map<string, Agent>();
  /** Pool name → its members; every member has the pool's owner. */
  readonly #pools = new Map<string, Set<LlmRow>>();
  readonly #bySession = new Map<string, { rows: Set<LlmRow>; agents: Set<Agent> }>();

  row(name: string): LlmRow | undefined {
    return this.#rows.get(name);
  }

  /** Everything that holds `name`, whatever its kind (at most one kind, but a pool has many members). */
  holders(name: string): Holder[] {
    const holders: Holder[] = [];
    const row = this.#rows.get(name);
    if (row) holders.push({ kind: 'llm', owner: row.owner, sessionId: row.sessionId });
    for (const member of this.#pools.get(name) ?? []) holders.push({ kind: 'pool', owner: member.owner, sessionId: member.sessionId });
    const agent = this.#agents.get(name);
    if (agent) holders.push({ kind: 'agent', owner: agent.owner, sessionId: agent.sessionId });
    return holders;
  }

  /** Removes what of `name` a session holds: its row, its pool members, its agent. */
  release(name: string, sessionId: string): void {
    const row = this.#rows.get(name);
    if (row?.sessionId === sessionId) this.#deleteRow(row);
    for (const member of [...(this.#pools.get(name) ?? [])]) if (member.sessionId === sessionId) this.#deleteRow(member);
    const agent = this.#agents.get(name);
    if (agent?.sessionId === sessionId) this.#deleteAgent(agent);
  }

  addRow(row: LlmRow): void {
    this.#rows.set(row.name, row);
    this.#entryOf(row.sessionId).rows.add(row);
    if (row.poolName !== undefined) {
      let pool = this.#pools.get(row.poolName);
      if (!pool) this.#pools.set(row.poolName, (pool = new Set()));
      pool.add(row);
    }
  }

  addAgent(agent: Agent): void {
    this.#agents.set(agent.name, agent);
    this.#entryOf(agent.sessionId).agents.add(agent);
  }

  /** Drops everything a session publishes. */
  clearSession(sessionId: string): void {
    const entry = this.#bySession.get(sessionId);
    if (!entry) return;
    for (const row of [...entry.rows]) this.#deleteRow(row);
    for (const agent of [...entry.agents]) this.#deleteAgent(agent);
  }

  publishedBy(sessionId: string): { rows: LlmRow[]; agents: Agent[] } {
    const entry = this.#bySession.get(sessionId);
    return { rows: [...(entry?.rows ?? [])], agents: [...(entry?.agents ?? [])] };
  }

  publishesAnything(sessionId: string): boolean {
    return this.#bySession.has(sessionId);
  }

  rowNamesOf(sessionId: string): string[] {
    return [...(this.#bySession.get(sessionId)?.rows ?? [])].map((row) => row.name);
  }

  visibleRows(viewer: Viewer): LlmRow[] {
    return [...this.#rows.values()].filter((row) => canSee(viewer, row));
  }

  visibleAgents(viewer: Viewer): Agent[] {
    return [...this.#agents.values()].filter((agent) => canSee(viewer, agent));
  }

  /** What `model` names for this viewer. What the viewer may not see is absent, so no answer tells it exists. */
  resolve(viewer: Viewer, model: string): Target | undefined {
    const row = this.#rows.get(model);
    if (row) return canSee(viewer, row) ? { kind: 'llm', name: model, rows: [row] } : undefined;
    const pool = this.#pools.get(model);
    if (pool) {
      const members = [...pool].filter((member) => canSee(viewer, member));
      return members.length > 0 ? { kind: 'pool', name: model, rows: members } : undefined;
    }
    const agent = this.#agents.get(model);
    if (!agent || !canSee(viewer, agent)) return undefined;
    const llm = this.#rows.get(agent.llmName);
    const rows = llm && llm.owner === agent.llmOwner && canSee(viewer, llm) ? [llm] : [];
    return { kind: 'agent', name: model, agent, rows };
  }

  #entryOf(sessionId: string): { rows: Set<LlmRow>; agents: Set<Agent> } {
    let entry = this.#bySession.get(sessionId);
    if (!entry) this.#bySession.set(sessionId, (entry = { rows: new Set(), agents: new Set() }));
    return entry;
  }

  #deleteRow(row: LlmRow): void {
    if (this.#rows.get(row.name) === row) this.#rows.delete(row.name);
    if (row.poolName !== undefined) {
      const pool = this.#pools.get(row.poolName);
      pool?.delete(row);
      if (pool?.size === 0) this.#pools.delete(row.poolName);
    }
    this.#forget(row.sessionId, (entry) => entry.rows.delete(row));
  }

  #deleteAgent(agent: Agent): void {
    if (this.#agents.get(agent.name) === agent) this.#agents.delete(agent.name);
    this.#forget(agent.sessionId, (entry) => entry.agents.delete(agent));
  }

  #forget(sessionId: string, remove: (entry: { rows: Set<LlmRow>; agents: Set<Agent> }) => void): void {
    const entry = this.#bySession.get(sessionId);
    if (!entry) return;
    remove(entry);
    if (entry.rows.size === 0 && entry.agents.size === 0) this.#bySession.delete(sessionId);
  }
}
