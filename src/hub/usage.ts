// The usage ledger (SPEC.md, "The hub beyond one machine"; issue 14, "usage at a glance"): one entry per finished
// call, summed per user or model. The in-memory ledger is the embedded hub's; a cluster plugs in PostgreSQL's.

/** One finished call. */
export interface UsageEntry {
  /** When the call finished (ms since the epoch). */
  at: number;
  /** The user of the caller's token. */
  caller: string;
  /** The caller's `model`, as asked. */
  model: string;
  /** The row that served it, and that row's owner; absent when the call never reached one. */
  row?: string;
  rowOwner?: string;
  tokensIn: number;
  tokensOut: number;
  durationMs: number;
  /** Streams: until the first chunk. */
  ttftMs?: number;
  /** 'ok', else the HTTP status the caller got ('499': the caller went away). */
  outcome: string;
}

export interface UsageSummary {
  key: string;
  calls: number;
  tokensIn: number;
  tokensOut: number;
  errors: number;
}

export interface UsageQuery {
  /** Entries that finished at or after this (ms since the epoch). */
  since: number;
  by: 'user' | 'model';
  /** Only this user's calls. */
  caller?: string;
}

export interface UsageLedger {
  /** Never throws and never waits: it is on the caller's path. */
  record(entry: UsageEntry): void;
  /** Sums sorted by calls (most first), then key. */
  summary(query: UsageQuery): Promise<UsageSummary[]>;
}

export interface MemoryLedgerOptions {
  /** Default 100 000: entries kept (the oldest go first); about 30 MB of heap when full. */
  maxEntries?: number;
  /** Default 172 800 000 (48 h): entries older than this go; a 24 h summary stays exact below maxEntries calls. */
  maxAgeMs?: number;
  now?: () => number;
}

/** A ring of the last calls, bounded in count and age. */
export class MemoryUsageLedger implements UsageLedger {
  readonly #ring: (UsageEntry | undefined)[];
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** Index of the oldest entry, and how many are kept. */
  #head = 0;
  #size = 0;

  constructor(options: MemoryLedgerOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`maxEntries must be a positive integer, not ${maxEntries}`);
    this.#ring = new Array<UsageEntry | undefined>(maxEntries);
    this.#maxAgeMs = options.maxAgeMs ?? 48 * 3_600_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    this.#expire();
    return this.#size;
  }

  record(entry: UsageEntry): void {
    const capacity = this.#ring.length;
    if (this.#size === capacity) {
      this.#ring[this.#head] = entry;
      this.#head = (this.#head + 1) % capacity;
    } else {
      this.#ring[(this.#head + this.#size) % capacity] = entry;
      this.#size++;
    }
    this.#expire();
  }

  async summary(query: UsageQuery): Promise<UsageSummary[]> {
    this.#expire();
    const sums = new Map<string, UsageSummary>();
    for (let i = 0; i < this.#size; i++) {
      const entry = this.#ring[(this.#head + i) % this.#ring.length] as UsageEntry;
      if (entry.at < query.since || (query.caller !== undefined && entry.caller !== query.caller)) continue;
      const key = query.by === 'user' ? entry.caller : entry.model;
      let sum = sums.get(key);
      if (!sum) sums.set(key, (sum = { key, calls: 0, tokensIn: 0, tokensOut: 0, errors: 0 }));
      sum.calls++;
      sum.tokensIn += entry.tokensIn;
      sum.tokensOut += entry.tokensOut;
      if (entry.outcome !== 'ok') sum.errors++;
    }
    return [...sums.values()].sort((a, b) => b.calls - a.calls || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Entries finish in time order (give or take a clock step), so the old ones are at the head. */
  #expire(): void {
    const oldest = this.#now() - this.#maxAgeMs;
    while (this.#size > 0) {
      const entry = this.#ring[this.#head] as UsageEntry;
      if (entry.at >= oldest) return;
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#ring.length;
      this.#size--;
    }
  }
}
