// The id-keyed records in machine contexts: copy-on-write updates of the small ones (tasks in flight, which the
// daemon persists when their reference changes), and the bounded set of recently finished task ids.
// A plain copy loop on purpose: V8's object spread and rest fall to a slow path on records of many keys, and at the
// queue limit (1000 tasks) removing them one by one with `const { [id]: _, ...rest }` stalled the event loop for seconds.

export function withEntry<T>(record: Readonly<Record<string, T>>, key: string, value: T): Record<string, T> {
  const copy: Record<string, T> = {};
  for (const name in record) copy[name] = record[name];
  copy[key] = value;
  return copy;
}

export function withoutEntry<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const copy: Record<string, T> = {};
  for (const name in record) if (name !== key) copy[name] = record[name];
  return copy;
}

/**
 * The last `limit` ids added, oldest dropped first. Updated in place, by the one machine that holds it: a copy per
 * finished task cost O(limit) (1000 ids, twice per task), and a lookup in an array as much again per frame. Nothing
 * persists it or compares it between snapshots.
 */
export class RecentIds {
  readonly #ids = new Set<string>();
  readonly limit: number;

  constructor(limit: number, ids: readonly string[] = []) {
    this.limit = Math.max(0, limit);
    for (const id of ids) this.add(id);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    if (this.limit === 0) return;
    // Added again: it becomes the newest.
    this.#ids.delete(id);
    this.#ids.add(id);
    if (this.#ids.size > this.limit) this.#ids.delete(this.#ids.values().next().value!);
  }

  get size(): number {
    return this.#ids.size;
  }
}
