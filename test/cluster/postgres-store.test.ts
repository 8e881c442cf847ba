import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { PostgresStore } from '../../src/hub/state/postgres-store.ts';
import { servicesMissing, startPostgres, type Service } from '../support/services.ts';

const missing = servicesMissing();
if (missing) console.warn(`skipped: ${missing}`);

describe.skipIf(missing !== undefined)('the hub\'s PostgreSQL store', () => {
  let postgres: Service;
  const stores: PostgresStore[] = [];
  const open = async (): Promise<PostgresStore> => {
    const store = await PostgresStore.open({ url: postgres.url, logger: silentLogger(), usageFlushMs: 20 });
    stores.push(store);
    return store;
  };
  beforeAll(async () => {
    postgres = await startPostgres();
  }, 30_000);
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await postgres?.destroy();
  });

  it('gives every replica the same secret, created once', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const [x, y] = await Promise.all([a.secret('session-key'), b.secret('session-key')]);
    expect(x.equals(y)).toBe(true);
    expect(x).toHaveLength(32);
  });

  it('serializes namespace changes: each replica decides after replaying what the other wrote', async () => {
    const [a, b] = [await open(), await open()];
    const start = (await a.loadNamespace()).version;
    const first = await a.changeNamespace(start, () => ({ result: 'a', write: [{ id: 's-a', owner: 'alice', published: { rows: ['x'] } }], remove: [] }));
    // b still thinks the log is at `start`: it sees a's session before it decides.
    let seenByB: string[] = [];
    const second = await b.changeNamespace(start, (changes) => {
      seenByB = changes.sessions.map((s) => s.id);
      return { result: 'b', write: [{ id: 's-b', owner: 'bob', published: { rows: ['y'] } }], remove: ['s-a'] };
    });
    expect(seenByB).toEqual(['s-a']);
    expect(second.version).toBeGreaterThan(first.version);
    const changes = await a.changesSince(first.version);
    expect(changes.sessions).toEqual([
      { id: 's-b', owner: 'bob', published: { rows: ['y'] } },
      { id: 's-a', published: null },
    ]);
    expect((await b.loadNamespace()).sessions.map((s) => s.id)).toEqual(['s-b']);
  });

  it('keeps the usage ledger and sums it by user and by model, one user\'s calls alone when asked', async () => {
    const store = await open();
    const at = Date.now();
    store.recordUsage({ at, caller: 'alice', model: 'llama', tokensIn: 10, tokensOut: 5, durationMs: 12, outcome: 'ok' });
    store.recordUsage({ at, caller: 'alice', model: 'qwen', tokensIn: 3, tokensOut: 1, durationMs: 7, outcome: 'ok' });
    store.recordUsage({ at, caller: 'bob', model: 'llama', tokensIn: 1, tokensOut: 0, durationMs: 2, outcome: 'error' });
    expect(await store.usage({ since: at - 1, by: 'model' })).toEqual([
      { key: 'llama', calls: 2, tokensIn: 11, tokensOut: 5, errors: 1 },
      { key: 'qwen', calls: 1, tokensIn: 3, tokensOut: 1, errors: 0 },
    ]);
    expect(await store.usage({ since: at - 1, by: 'user', caller: 'bob' })).toEqual([{ key: 'bob', calls: 1, tokensIn: 1, tokensOut: 0, errors: 1 }]);
  });
});
