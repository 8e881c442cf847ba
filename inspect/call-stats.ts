// Per-provider figures over the last minute for the status page: calls, errors, median duration and tokens/s. A
// bounded window: at most MAX_KEPT finished calls per provider, none older than the window.
export interface CallStats {
  /** Calls (infer and openai tasks, not wakes) that ended in the window. */
  calls: number;
  errors: number;
  /** Median duration of those calls, ms; absent with none. */
  p50Ms?: number;
  /** Completion tokens per second of calling: tokens over the summed durations of the calls that told their tokens. */
  tokensPerSecond?: number;
  windowMs: number;
}

interface Ended {
  at: number;
  ms: number;
  failed: boolean;
  tokens?: number;
}

export const STATS_WINDOW_MS = 60_000;
const MAX_KEPT = 2_000;

export class CallWindow {
  readonly #byProvider = new Map<string, Ended[]>();
  readonly #windowMs: number;

  constructor(windowMs = STATS_WINDOW_MS) {
    this.#windowMs = windowMs;
  }

  record(provider: string, ended: Ended): void {
    let list = this.#byProvider.get(provider);
    if (!list) this.#byProvider.set(provider, (list = []));
    list.push(ended);
    // Trimmed by halves, not by one call per call: a busy provider's splice of 2,000 entries per finished call was a
    // tenth of what the machines cost per task. `stats` reads the last MAX_KEPT.
    if (list.length >= 2 * MAX_KEPT) list.splice(0, list.length - MAX_KEPT);
  }

  /** Drops the providers that are gone (a catalog's model withdrawn), so the map follows what is published. */
  keepOnly(providers: ReadonlySet<string>): void {
    for (const name of this.#byProvider.keys()) if (!providers.has(name)) this.#byProvider.delete(name);
  }

  stats(provider: string, now: number): CallStats {
    const list = this.#byProvider.get(provider) ?? [];
    const from = now - this.#windowMs;
    // The last MAX_KEPT calls within the window; what is before them goes.
    let first = Math.max(0, list.length - MAX_KEPT);
    while (first < list.length && list[first]!.at < from) first++;
    if (first > 0) list.splice(0, first);
    const durations = list.map((call) => call.ms).sort((a, b) => a - b);
    const told = list.filter((call) => call.tokens !== undefined && call.ms > 0);
    const busyMs = told.reduce((sum, call) => sum + call.ms, 0);
    const tokens = told.reduce((sum, call) => sum + (call.tokens ?? 0), 0);
    return {
      calls: list.length,
      errors: list.filter((call) => call.failed).length,
      ...(durations.length > 0 ? { p50Ms: durations[Math.floor((durations.length - 1) / 2)] } : {}),
      ...(busyMs > 0 ? { tokensPerSecond: Math.round((tokens / busyMs) * 10_000) / 10 } : {}),
      windowMs: this.#windowMs,
    };
  }
}
