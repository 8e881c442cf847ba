// A HubClock a test moves by hand: `advance(ms)` runs every timer that falls due on the way, in time order, each at
// its own instant, so a watchdog or a deadline fires exactly when the hub's rules say and never on wall time.
import type { HubClock } from '../../src/hub/clock.ts';

interface Timer {
  at: number;
  /** Set for `every`: the period it runs again after. */
  period?: number;
  fn: () => void;
}

/** Lets what a timer or a request set going (promises, I/O callbacks already due) run before time moves on. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ManualClock implements HubClock {
  #at: number;
  #timers: Timer[] = [];
  #onSchedule: Array<() => void> = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#at = start;
  }

  readonly now = (): number => this.#at;

  readonly after = (ms: number, fn: () => void): (() => void) => this.#add({ at: this.#at + Math.max(0, ms), fn });

  readonly every = (ms: number, fn: () => void): (() => void) => {
    const period = Math.max(1, ms);
    return this.#add({ at: this.#at + period, period, fn });
  };

  /**
   * Resolves once the hub next starts waiting on time (a deadline, a grace), after what set it going has settled:
   * the moment a test may move the clock past it. Ask before doing what schedules it.
   */
  scheduled(): Promise<void> {
    return new Promise((resolve) => this.#onSchedule.push(() => void settle().then(resolve)));
  }

  /** Moves time `ms` forward, running what falls due on the way and letting each timer's work settle. */
  async advance(ms: number): Promise<void> {
    await settle();
    const until = this.#at + ms;
    for (;;) {
      const next = this.#timers.reduce<Timer | undefined>((soonest, timer) => (soonest === undefined || timer.at < soonest.at ? timer : soonest), undefined);
      if (next === undefined || next.at > until) break;
      this.#at = next.at;
      if (next.period === undefined) this.#remove(next);
      else next.at += next.period;
      next.fn();
      await settle();
    }
    this.#at = until;
  }

  #add(timer: Timer): () => void {
    this.#timers.push(timer);
    // Due already (a grace that is over): it runs at once, as on the wall clock, without waiting for an advance.
    if (timer.period === undefined && timer.at <= this.#at) {
      setImmediate(() => {
        if (!this.#timers.includes(timer)) return;
        this.#remove(timer);
        timer.fn();
      });
    }
    for (const waiter of this.#onSchedule.splice(0)) waiter();
    return () => this.#remove(timer);
  }

  #remove(timer: Timer): void {
    this.#timers = this.#timers.filter((t) => t !== timer);
  }
}
