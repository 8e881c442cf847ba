// The status tracker on its own: what it reports before, without and after a daemon, and that an inspector that
// is off adds no inspection observer (the tracker needs none).
import { describe, expect, it } from 'vitest';
import { combineObservers, StatusTracker } from '../../inspect/tracker.ts';
import { eventually } from '../support/cluster.ts';
import { startWatched } from '../support/watched.ts';

describe('StatusTracker', () => {
  it('reports a daemon that is starting, then one that has nothing to publish', () => {
    const tracker = new StatusTracker({ hubUrl: 'http://hub:4848' });
    expect(tracker.report()).toEqual(
      expect.objectContaining({ service: 'llm-registrar', phase: 'starting', hub: { url: 'http://hub:4848' }, providers: [], transitions: [] }),
    );
    expect(tracker.report().session).toBeUndefined();
    tracker.markIdle('nothing to publish');
    expect(tracker.report()).toEqual(expect.objectContaining({ phase: 'idle', note: 'nothing to publish' }));
  });

  it('follows the daemon to its stop', async () => {
    const stage = await startWatched({ providers: [{ name: 'gpu', type: 'demo', model: 'demo' }] });
    await eventually(() => expect(stage.tracker.report().phase).toBe('running'));
    let changes = 0;
    stage.tracker.onChange(() => changes++);
    await stage.close();
    const report = stage.tracker.report();
    expect(report.phase).toBe('stopped');
    expect(report.session?.state).toBe('stopped');
    expect(report.transitions.at(-1)).toEqual(expect.objectContaining({ actor: 'supervisor', to: 'stopped' }));
    expect(changes).toBeGreaterThan(0);
  });

  it('adds no observer for an inspector that is off', () => {
    const inspector = { next: () => {} };
    expect(combineObservers(undefined, undefined)).toBeUndefined();
    expect(combineObservers(inspector, undefined)).toBe(inspector);
  });
});
