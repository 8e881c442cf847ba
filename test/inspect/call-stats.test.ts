// The status page's per-provider call figures: a bounded window, by count and by age.
import { describe, expect, it } from 'vitest';
import { CallWindow } from '../../inspect/call-stats.ts';

describe('CallWindow', () => {
  it('counts the last 2,000 calls of a provider however many it has had', () => {
    const window = new CallWindow(60_000);
    for (let i = 0; i < 5_001; i++) window.record('p', { at: 1_000 + i, ms: i < 5_001 - 2_000 ? 1 : 7, failed: false });
    const stats = window.stats('p', 2_000);
    expect(stats.calls).toBe(2_000);
    expect(stats.p50Ms).toBe(7);
  });

  it('forgets calls older than the window', () => {
    const window = new CallWindow(1_000);
    window.record('p', { at: 0, ms: 5, failed: true });
    window.record('p', { at: 1_500, ms: 9, failed: false });
    expect(window.stats('p', 1_600)).toMatchObject({ calls: 1, errors: 0, p50Ms: 9 });
    expect(window.stats('p', 10_000)).toMatchObject({ calls: 0, errors: 0 });
  });
});
