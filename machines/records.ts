// The records of the supervisor's context that grow with tasks (in flight, recently finished): each task's start and
// end O(1). At the queue limit (1000 tasks) copying a record per task stalled the daemon's event loop for seconds.

/**
 * Tasks taken and not answered yet, task id → wire name. Updated in place, by the one machine that holds it: a copy
 * per task started and ended cost O(tasks in flight) twice per task. `version` counts the changes, for the daemon,
 * which persists these when they change.
 */
export class TasksInFlight {
  readonly #tasks = new Map<string, string>();
  #version = 0;

  has(taskId: string): boolean {
    return this.#tasks.has(taskId);
  }

  add(taskId: string, llmName: string): void {
    this.#tasks.set(taskId, llmName);
    this.#version++;
  }

  delete(taskId: string): void {
    if (this.#tasks.delete(taskId)) this.#version++;
  }

  get size(): number {
    return this.#tasks.size;
  }

  get version(): number {
    return this.#version;
  }

  entries(): IterableIterator<[string, string]> {
    return this.#tasks.entries();
  }

  toRecord(): Record<string, string> {
    return Object.fromEntries(this.#tasks);
  }
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

/**
 * The actor ids of a provider's live tasks: a few names used again and again (`task:0`, `task:1` …, as many as tasks
 * alive at once), not the hub's task ids, with the task id → actor id of each live task. XState copies its parent's
 * record of children at every spawn and every stop; with ids never seen before, each copy went the slow way (a new
 * hidden class per id, then a dictionary-mode object after the first stop): five times slower at 32 tasks alive.
 * Updated in place, by the one machine that holds it, like the records above.
 */
export class TaskSlots {
  readonly #byTask = new Map<string, string>();
  readonly #free: string[] = [];
  #made = 0;

  /** An actor id for this task, until `release`. */
  take(taskId: string): string {
    const taken = this.#byTask.get(taskId);
    if (taken !== undefined) return taken;
    const id = this.#free.pop() ?? `task:${this.#made++}`;
    this.#byTask.set(taskId, id);
    return id;
  }

  idOf(taskId: string): string | undefined {
    return this.#byTask.get(taskId);
  }

  release(taskId: string): void {
    const id = this.#byTask.get(taskId);
    if (id === undefined) return;
    this.#byTask.delete(taskId);
    this.#free.push(id);
  }

  /** Tasks holding an id now. */
  get size(): number {
    return this.#byTask.size;
  }
}
