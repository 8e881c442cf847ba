// Pausing and resuming sharing, for the status server's writes: checks the names, sends the supervisor its
// `providers.pause` / `providers.resume`, and keeps the timers of `--for` (a pause that resumes on its own).
import { publishedNames } from '../machines/selectors.ts';
import type { SupervisorActorRef } from '../machines/supervisor.ts';

export type PauseAnswer = { ok: true; names: string[]; until?: number } | { ok: false; status: number; message: string };

export interface PauseControl {
  /** No names: every published provider. `forMs`: resume on its own after that long. */
  pause(names: string[], forMs?: number): PauseAnswer;
  resume(names: string[]): PauseAnswer;
  close(): void;
}

/** The longest `--for` taken: a timer beyond it would fire at once (setTimeout's 32-bit limit). */
export const MAX_PAUSE_MS = 2 ** 31 - 1;

export function createPauseControl(actor: () => SupervisorActorRef | undefined, now: () => number = Date.now): PauseControl {
  const timers = new Map<string, NodeJS.Timeout>();
  const clear = (names: string[]) => {
    for (const name of names) {
      clearTimeout(timers.get(name));
      timers.delete(name);
    }
  };
  const resolve = (names: string[]): { ok: true; ref: SupervisorActorRef; names: string[] } | Extract<PauseAnswer, { ok: false }> => {
    const ref = actor();
    if (!ref || ref.getSnapshot().status !== 'active') return { ok: false, status: 409, message: 'nothing is published: the daemon is idle or stopping' };
    const known = publishedNames(ref.getSnapshot());
    const unknown = names.filter((name) => !known.includes(name));
    if (unknown.length > 0) {
      return { ok: false, status: 404, message: `not published here: ${unknown.map((n) => `'${n}'`).join(', ')}; published: ${known.map((n) => `'${n}'`).join(', ') || 'nothing'}` };
    }
    return { ok: true, ref, names: names.length === 0 ? [...known] : [...new Set(names)] };
  };
  const resume = (names: string[]): PauseAnswer => {
    const found = resolve(names);
    if (!found.ok) return found;
    clear(found.names);
    found.ref.send({ type: 'providers.resume', names: found.names });
    return { ok: true, names: found.names };
  };
  return {
    pause(names, forMs) {
      if (forMs !== undefined && !(Number.isInteger(forMs) && forMs > 0 && forMs <= MAX_PAUSE_MS)) {
        return { ok: false, status: 400, message: `forMs must be a whole number of milliseconds between 1 and ${MAX_PAUSE_MS}` };
      }
      const found = resolve(names);
      if (!found.ok) return found;
      clear(found.names);
      const until = forMs === undefined ? undefined : now() + forMs;
      found.ref.send({ type: 'providers.pause', names: found.names, until });
      // One timer a name: resuming one of them early leaves the others' timers running.
      for (const name of forMs === undefined ? [] : found.names) {
        const timer = setTimeout(() => resume([name]), forMs);
        timer.unref();
        timers.set(name, timer);
      }
      return { ok: true, names: found.names, ...(until === undefined ? {} : { until }) };
    },
    resume,
    close: () => clear([...timers.keys()]),
  };
}
