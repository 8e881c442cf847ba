// The hub's time: what its watchdog, retention and call deadlines read and wait on. Wall time by default; a test
// passes a clock it moves itself, so none of those rules waits on real time.

export interface HubClock {
  /** Milliseconds since the epoch; called unbound (`const { now } = clock`). */
  readonly now: () => number;
  /** Runs `fn` once, `ms` from now; the returned function cancels it. It never keeps the process alive. */
  readonly after: (ms: number, fn: () => void) => () => void;
  /** Runs `fn` every `ms` until the returned function is called. It never keeps the process alive. */
  readonly every: (ms: number, fn: () => void) => () => void;
}

export const wallClock: HubClock = {
  // Looked up at each call, so a test's fake timers (which replace Date.now) reach it too.
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};
