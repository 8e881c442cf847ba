// A registrar that restarts with thousands of tasks in flight in its state file answers each of them `registrar
// restarted`, a bounded number of result POSTs at a time, runs none of them when the hub re-sends
// them, and keeps its status server answering meanwhile. (20,000 of them: bench/restart-answers.ts.)
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RESTARTED_POSTS_AT_ONCE } from '../../actors/answer-restarted.ts';
import { createMetrics } from '../../inspect/metrics.ts';
import { startStatusServer } from '../../inspect/status-server.ts';
import { StatusTracker } from '../../inspect/tracker.ts';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer, pause } from '../support/fault-stage.ts';
import { startRegistrar } from '../support/registrar.ts';
import { startScriptHub } from '../support/script-hub.ts';

const stage = faultStage();
const TASKS = 2_000;

describe('a restart with thousands of tasks in flight', () => {
  it(`answers all ${TASKS}, at most ${RESTARTED_POSTS_AT_ONCE} POSTs at a time, with the status server up meanwhile`, async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'llmr-restart-'));
    const inFlight = Array.from({ length: TASKS }, (_, n) => ({ taskId: `t-${n}`, llmName: 'demo' }));
    const facts = { sessionId: 'session-of-the-last-run', providers: {}, inFlight };
    await writeFile(join(stateDir, 'state.json'), JSON.stringify({ version: 1, savedAt: new Date().toISOString(), facts }), { mode: 0o600 });

    let open = 0;
    let mostOpen = 0;
    const hub = await startScriptHub({
      keepAliveMs: 50,
      // Held a moment, so POSTs overlap and the bound shows.
      result: async () => {
        mostOpen = Math.max(mostOpen, ++open);
        await pause(1);
        open--;
        return 200;
      },
    });
    const tracker = new StatusTracker({ hubUrl: hub.url });
    const status = await startStatusServer({ tracker, metrics: createMetrics(tracker), port: 0 });
    const registrar = await startRegistrar({
      hubUrl: hub.url,
      providers: [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }],
      stateDir,
      timing: { resultDeadlineMs: 30_000 },
      follow: (actor) => tracker.follow(actor),
    });
    stage.cleanup(async () => {
      expect(registrar.troubles()).toEqual([]);
      await registrar.stop();
      await status.close();
      await hub.close();
      await rm(stateDir, { recursive: true, force: true });
    });

    // The hub re-sends the frames it has no result for yet on the session's stream: they are not run.
    await hub.waitForStream();
    for (const { taskId } of inFlight.slice(-20)) hub.send(infer(taskId, 'run me again', false, 'demo'));
    let statusAnswersMeanwhile = 0;
    while (hub.results.size < TASKS) {
      const answer = await fetch(`${status.url}/status`, { signal: AbortSignal.timeout(1_000) });
      expect(answer.status).toBe(200);
      await answer.body?.cancel();
      if (hub.results.size < TASKS) statusAnswersMeanwhile++;
      await pause(20);
    }
    expect(statusAnswersMeanwhile).toBeGreaterThan(0);
    expect(mostOpen).toBeLessThanOrEqual(RESTARTED_POSTS_AT_ONCE);
    expect(mostOpen).toBeGreaterThan(1);
    // A POST that timed out on a busy machine is sent again (results are idempotent); none is anything else.
    for (const { taskId } of inFlight) {
      const results = hub.results.get(taskId) ?? [];
      expect(results.length, taskId).toBeGreaterThan(0);
      expect(results.every((result) => 'error' in result && result.error === 'registrar restarted'), taskId).toBe(true);
    }
    await eventually(() => expect(registrar.logs.some((line) => line.msg === `answered the ${TASKS} tasks in flight at the last stop (registrar restarted) in ${line.ms} ms`)).toBe(true));
    // Answered: they leave the state file.
    await eventually(async () => expect(JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')).facts.inFlight).toEqual([]));
  }, 60_000);
});
