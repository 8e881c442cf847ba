// Registrar sessions: owner, liveness (watchdog, leave), the capabilities each registrar sent, indexed by owner so
// the per-user limit and eviction cost O(that user's sessions). Pure: time comes in as `now`.

export interface Session {
  readonly id: string;
  readonly user: string;
  /** What the registrar said it speaks on its last register (SPEC.md §5). */
  capabilities: readonly string[];
  lastSeen: number;
  /** Set by a leave (SPEC.md §6): inactive at once, until a heartbeat or a register brings it back. */
  left: boolean;
  /** Set once the watchdog has reported the session lost; cleared by the next sign of life. */
  lostReported: boolean;
  /**
   * Its registrar has been heard from with the id it was given (a heartbeat, its stream, a result, a register naming
   * it). Until then the session may be a ghost: a register answered after its registrar stopped waiting.
   */
  confirmed: boolean;
  /** The digest of the token its registrar last came with, as this process saw it: revoking that token ends it. */
  token?: string;
}

export class SessionTable {
  readonly #byId = new Map<string, Session>();
  readonly #byUser = new Map<string, Set<Session>>();

  constructor(private readonly watchdogMs: number) {}

  get(id: string): Session | undefined {
    return this.#byId.get(id);
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  get size(): number {
    return this.#byId.size;
  }

  add(session: Session): void {
    this.#byId.set(session.id, session);
    let mine = this.#byUser.get(session.user);
    if (!mine) this.#byUser.set(session.user, (mine = new Set()));
    mine.add(session);
  }

  delete(id: string): void {
    const session = this.#byId.get(id);
    if (!session) return;
    this.#byId.delete(id);
    const mine = this.#byUser.get(session.user);
    mine?.delete(session);
    if (mine?.size === 0) this.#byUser.delete(session.user);
  }

  countOf(user: string): number {
    return this.#byUser.get(user)?.size ?? 0;
  }

  /** The user's session heard from least recently among those that are not live, if any. */
  oldestDeadOf(user: string, now: number): Session | undefined {
    let oldest: Session | undefined;
    for (const session of this.#byUser.get(user) ?? []) {
      if (!this.isLive(session, now) && (oldest === undefined || session.lastSeen < oldest.lastSeen)) oldest = session;
    }
    return oldest;
  }

  isLive(session: Session, now: number): boolean {
    return !session.left && now - session.lastSeen < this.watchdogMs;
  }

  touch(session: Session, now: number): void {
    session.lastSeen = now;
    session.left = false;
    session.lostReported = false;
  }

  /** Sessions past the watchdog not reported yet; each is reported once until it comes back. */
  collectLost(now: number): Session[] {
    const lost: Session[] = [];
    for (const session of this.#byId.values()) {
      if (!session.lostReported && !this.isLive(session, now)) {
        session.lostReported = true;
        lost.push(session);
      }
    }
    return lost;
  }

  /** Sessions whose registrar last came with one of these tokens (digests). */
  withToken(digests: ReadonlySet<string>): Session[] {
    return [...this.#byId.values()].filter((session) => session.token !== undefined && digests.has(session.token));
  }

  /** Sessions not heard from for `retentionMs`: the caller deletes them with their rows. */
  expired(now: number, retentionMs: number): Session[] {
    return [...this.#byId.values()].filter((session) => now - session.lastSeen >= retentionMs);
  }
}
