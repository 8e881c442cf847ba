// The in-memory usage ledger and the `since` parameter, as tables: what is kept, what is summed, what goes first.
import { describe, expect, it } from 'vitest';
import { MemoryUsageLedger, type UsageEntry } from '../../src/hub/usage.ts';
import { parseSince } from '../../src/hub/usage-routes.ts';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');

function entry(at: number, caller: string, model: string, tokensIn = 10, tokensOut = 5, outcome = 'ok'): UsageEntry {
  return { at, caller, model, row: model, rowOwner: 'alice', tokensIn, tokensOut, durationMs: 100, outcome };
}

describe('the in-memory usage ledger', () => {
  it('sums calls, tokens and errors per model and per user, most calls first', async () => {
    const ledger = new MemoryUsageLedger({ now: () => NOW });
    ledger.record(entry(NOW - 3 * HOUR, 'bob', 'llama', 10, 5));
    ledger.record(entry(NOW - 2 * HOUR, 'bob', 'qwen', 7, 3, '504'));
    ledger.record(entry(NOW - HOUR, 'carol', 'llama', 1, 2));
    ledger.record(entry(NOW - HOUR, 'bob', 'llama', 4, 4, '499'));
    expect(await ledger.summary({ since: NOW - 24 * HOUR, by: 'model' })).toEqual([
      { key: 'llama', calls: 3, tokensIn: 15, tokensOut: 11, errors: 1 },
      { key: 'qwen', calls: 1, tokensIn: 7, tokensOut: 3, errors: 1 },
    ]);
    expect(await ledger.summary({ since: NOW - 24 * HOUR, by: 'user' })).toEqual([
      { key: 'bob', calls: 3, tokensIn: 21, tokensOut: 12, errors: 2 },
      { key: 'carol', calls: 1, tokensIn: 1, tokensOut: 2, errors: 0 },
    ]);
  });

  it.each([
    { what: 'since cuts older calls', query: { since: NOW - 90 * 60_000, by: 'model' as const }, want: [{ key: 'llama', calls: 2, tokensIn: 5, tokensOut: 6, errors: 1 }] },
    { what: 'caller keeps one user', query: { since: 0, by: 'model' as const, caller: 'carol' }, want: [{ key: 'llama', calls: 1, tokensIn: 1, tokensOut: 2, errors: 0 }] },
    { what: 'a user with no calls gets none', query: { since: 0, by: 'user' as const, caller: 'dave' }, want: [] },
  ])('$what', async ({ query, want }) => {
    const ledger = new MemoryUsageLedger({ now: () => NOW });
    ledger.record(entry(NOW - 3 * HOUR, 'bob', 'llama', 10, 5));
    ledger.record(entry(NOW - 2 * HOUR, 'bob', 'qwen', 7, 3, '504'));
    ledger.record(entry(NOW - HOUR, 'carol', 'llama', 1, 2));
    ledger.record(entry(NOW - HOUR, 'bob', 'llama', 4, 4, '499'));
    expect(await ledger.summary(query)).toEqual(want);
  });

  it('keeps at most maxEntries, dropping the oldest first', async () => {
    const ledger = new MemoryUsageLedger({ maxEntries: 3, now: () => NOW });
    for (const [index, model] of ['a', 'b', 'c', 'd', 'e'].entries()) ledger.record(entry(NOW - 10 + index, 'bob', model));
    expect(ledger.size).toBe(3);
    expect((await ledger.summary({ since: 0, by: 'model' })).map((row) => row.key)).toEqual(['c', 'd', 'e']);
  });

  it('forgets calls older than maxAgeMs, while a 24 h summary stays exact under the default age bound', async () => {
    let now = NOW;
    const ledger = new MemoryUsageLedger({ now: () => now });
    ledger.record(entry(NOW - 47 * HOUR, 'bob', 'old'));
    ledger.record(entry(NOW - 23 * HOUR, 'bob', 'day'));
    expect(ledger.size).toBe(2);
    expect((await ledger.summary({ since: now - 24 * HOUR, by: 'model' })).map((row) => row.key)).toEqual(['day']);
    now += 2 * HOUR;
    expect(ledger.size).toBe(1);
    expect(await ledger.summary({ since: now - 24 * HOUR, by: 'model' })).toEqual([]);
    now += 23 * HOUR;
    expect(ledger.size).toBe(1);
    now += 1;
    expect(ledger.size).toBe(0);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new MemoryUsageLedger({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});

describe('since', () => {
  it.each([
    ['24h', NOW - 24 * HOUR],
    ['30m', NOW - 30 * 60_000],
    ['90s', NOW - 90_000],
    ['7d', NOW - 7 * 24 * HOUR],
    [String(NOW - 5), NOW - 5],
    ['2026-11-30T12:00:00Z', NOW - 24 * HOUR],
    ['2026-11-30', Date.parse('2026-11-30')],
  ])('%s', (text, want) => {
    expect(parseSince(text, NOW)).toBe(want);
  });

  it.each(['', 'yesterday', '24 h', '-1h', '400d', '2026-13-45', '1e9', '24H'])("refuses '%s'", (text) => {
    expect(parseSince(text, NOW)).toBeUndefined();
  });
});
