// Copy-on-write updates of the id-keyed records in machine contexts (tasks, tasks in flight). A plain copy loop on
// purpose: V8's object spread and rest fall to a slow path on records of many keys, and at the queue limit (1000
// tasks) removing them one by one with `const { [id]: _, ...rest }` stalled the daemon's event loop for seconds.

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
