// Backoff with jitter, under a storm (issue 3, part 4): 200 registrars in this process against one real hub that
// restarts and forgets them all. Every one must come back with its own session id, each after the delay its own
// jitter draw chose. The jitter source is pinned (registrar i draws (i + ½) / 200 every time), so the test asserts on
// the distribution the fleet chose, which no load can change; the wall-clock spread it caused is printed, not asserted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AnyActorRef } from 'xstate';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { silentLogger } from '../../src/log.ts';
import { backoffDelay } from '../../machines/backoff.ts';
import { eventually, hubGet, stopDaemon, TOKEN } from '../support/cluster.ts';

const REGISTRARS = 200;
// The waits below are bounds for a loaded 2-core machine, where 200 daemons in one process take seconds to connect;
// nothing is asserted on how long anything took.
const HUB_DOWN_MS = 300;
/** Registrar i's jitter draw, the same on every retry: the fleet's draws cover [0, 1) evenly. */
const drawOf = (i: number) => (i + 0.5) / REGISTRARS;
const timing = {
  backoffBaseMs: 50,
  backoffCapMs: 1_000,
  // Long enough that no heartbeat and no idle watchdog plays a part: the stream's backoff alone brings them back.
  heartbeatMs: 60_000,
  streamIdleMs: 60_000,
  // A register that times out is retried on the register's own backoff, which this test does not assert on: on a
  // loaded machine the first 200 registers can take longer than 5 s.
  requestTimeoutMs: 30_000,
  resultDeadlineMs: 5_000,
  drainMs: 1_000,
};

interface Fleet {
  hub: Hub;
  daemons: Daemon[];
  stateDirs: string[];
}

let fleet: Fleet | undefined;

afterAll(async () => {
  if (!fleet) return;
  await Promise.all(fleet.daemons.map((daemon) => stopDaemon(daemon)));
  await fleet.hub.close();
  await Promise.all(fleet.stateDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function startFleet(): Promise<Fleet> {
  const stateDirs = await Promise.all(Array.from({ length: REGISTRARS + 1 }, () => mkdtemp(join(tmpdir(), 'llmr-storm-'))));
  // The last dir is the hub's (its session key): the restarted hub still verifies every registrar's id.
  const hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'storm', admin: true } }, keepAliveMs: 5_000, stateDir: stateDirs[REGISTRARS] });
  const daemons = await Promise.all(
    stateDirs.slice(0, REGISTRARS).map((stateDir, i) => {
      const parsed = parseConfig(
        {
          hub: { url: hub.url, token: TOKEN },
          providers: [{ name: `demo-${String(i).padStart(3, '0')}`, type: 'demo', model: 'demo', tokenDelayMs: 0 }],
          timing,
        },
        {},
      );
      if (!parsed.ok) throw new Error(parsed.problems.join('; '));
      return startDaemon({ config: parsed.config, stateDir, logger: silentLogger(), random: () => drawOf(i) });
    }),
  );
  return { hub, daemons, stateDirs };
}

const sessionOf = (daemon: Daemon) => (daemon.actor!.getSnapshot().children as Record<string, AnyActorRef>).session;
const sessionIdOf = (daemon: Daemon) => daemon.actor!.getSnapshot().context.sessionId;

async function activeRows(url: string): Promise<number> {
  const { json } = await hubGet(url, '/api/v1/llms');
  return (json as { status: string }[]).filter((row) => row.status === 'active').length;
}

/** The `q`-quantile of sorted numbers (nearest rank). */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Most re-registrations that fell in any window of `windowMs`: how hard the fleet hit the hub at once. */
function peakIn(sorted: number[], windowMs: number): number {
  let peak = 0;
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while (sorted[end] - sorted[start] >= windowMs) start++;
    peak = Math.max(peak, end - start + 1);
  }
  return peak;
}

/** One registrar's way back, read from its session's snapshots (times from performance.now()). */
interface Return {
  /** The task stream broke (the hub closed it). */
  cutAt?: number;
  /** The backoff delay it chose before its last reconnect, and for which attempt. */
  delayMs?: number;
  attempt?: number;
  /** It reconnected and the hub answered 'unknown session' (→ registering). */
  reconnectAt?: number;
  lostAt?: number;
  /** The hub took its register (→ connected). */
  backAt?: number;
}

function follow(daemon: Daemon, since: () => number): { record: Return; stop(): void } {
  const record: Return = {};
  let previous: unknown;
  let lastReconnect: number | undefined;
  const subscription = sessionOf(daemon).subscribe((snapshot: { value: unknown; matches(value: unknown): boolean; context: { attempt: number; retryDelayMs: number } }) => {
    const now = performance.now();
    const wasBackoff = previous !== undefined && JSON.stringify(previous) === JSON.stringify({ connected: 'backoff' });
    previous = snapshot.value;
    if (now < since()) return;
    if (snapshot.matches({ connected: 'backoff' }) && record.lostAt === undefined) {
      record.cutAt ??= now;
      // scheduleRetry chose the delay for attempt n and counted it: the context now says n + 1.
      record.delayMs = snapshot.context.retryDelayMs;
      record.attempt = snapshot.context.attempt - 1;
    }
    if (wasBackoff && snapshot.matches({ connected: 'streaming' })) lastReconnect = now;
    if (snapshot.matches('registering') && record.lostAt === undefined) {
      record.lostAt = now;
      record.reconnectAt = lastReconnect;
    }
    if (snapshot.matches('connected') && record.lostAt !== undefined) record.backAt ??= now;
  });
  return { record, stop: () => subscription.unsubscribe() };
}

describe('a storm of registrars against a hub that restarts', () => {
  it(`brings all ${REGISTRARS} back with their session ids, their re-registrations spread out by the jitter`, async () => {
    fleet = await startFleet();
    const { daemons } = fleet;
    const url = fleet.hub.url;
    await eventually(async () => expect(await activeRows(url)).toBe(REGISTRARS), 30_000);
    await eventually(() => expect(daemons.filter((d) => sessionOf(d).getSnapshot().matches({ connected: { streaming: 'open' } }))).toHaveLength(REGISTRARS), 30_000);
    const sessionIds = daemons.map(sessionIdOf);
    expect(new Set(sessionIds).size).toBe(REGISTRARS);

    let closedAt = Infinity;
    const returns = daemons.map((daemon) => follow(daemon, () => closedAt));
    const { port } = fleet.hub;
    closedAt = performance.now();
    await fleet.hub.close();
    await sleep(HUB_DOWN_MS);
    fleet.hub = await startHub({ port, tokens: { [TOKEN]: { user: 'storm', admin: true } }, keepAliveMs: 5_000, stateDir: fleet.stateDirs[REGISTRARS] });
    const upAt = performance.now();

    await eventually(() => expect(returns.filter((r) => r.record.backAt !== undefined)).toHaveLength(REGISTRARS), 30_000);
    await eventually(async () => expect(await activeRows(url)).toBe(REGISTRARS), 30_000);
    for (const r of returns) r.stop();
    expect(daemons.map(sessionIdOf)).toEqual(sessionIds);
    expect(daemons.every((daemon) => daemon.actor!.getSnapshot().status === 'active')).toBe(true);

    const records = returns.map((r) => r.record);
    const sorted = (pick: (r: Return) => number | undefined, from: number) =>
      records.map(pick).map((t) => t! - from).sort((a, b) => a - b);
    const cut = sorted((r) => r.cutAt, closedAt);
    const reconnect = sorted((r) => r.reconnectAt, upAt);
    const reregistered = sorted((r) => r.backAt, upAt);

    // The reconnect that found the session gone, for the attempt most of the fleet was at: the delays they chose.
    const byAttempt = new Map<number, number[]>();
    for (const r of records) byAttempt.set(r.attempt!, [...(byAttempt.get(r.attempt!) ?? []), r.delayMs!]);
    const [attempt, chosen] = [...byAttempt].sort(([, a], [, b]) => b.length - a.length)[0];
    chosen.sort((a, b) => a - b);
    const step = Math.min(timing.backoffCapMs, timing.backoffBaseMs * 2 ** attempt);

    const row = (name: string, values: number[]) =>
      `  ${name.padEnd(44)}${[0, 0.1, 0.5, 0.9, 1].map((q) => String(Math.round(quantile(values, q))).padStart(7)).join('')}`;
    console.log(
      [
        `storm: ${REGISTRARS} registrars in one process, one hub down ${HUB_DOWN_MS} ms; backoff ${timing.backoffBaseMs} ms × 2^attempt, cap ${timing.backoffCapMs} ms, jitter ½–1 of the step`,
        `  ${'(ms)'.padEnd(44)}${['min', 'p10', 'p50', 'p90', 'max'].map((h) => h.padStart(7)).join('')}`,
        row('stream cut, after the hub began to close', cut),
        row('reconnect that found the session gone *', reconnect),
        row('re-registered (hub took the register) *', reregistered),
        row(`delay chosen before it, attempt ${attempt} (${chosen.length})`, chosen),
        `  * after the hub came back. Backoff step at attempt ${attempt}: ${step} ms (jitter range ${step / 2}–${step} ms).`,
        `  attempts the fleet was at: ${[...byAttempt].sort(([a], [b]) => a - b).map(([a, d]) => `${a}: ${d.length}`).join(', ')}`,
        `  spread of re-registrations: max − min ${Math.round(reregistered.at(-1)! - reregistered[0])} ms, p90 − p10 ${Math.round(quantile(reregistered, 0.9) - quantile(reregistered, 0.1))} ms; most in any 10 ms: ${peakIn(reregistered, 10)}, in any 50 ms: ${peakIn(reregistered, 50)}`,
      ].join('\n'),
    );

    // Each registrar waited the delay its own draw chose, for the attempt it was at: within [½, 1] of that attempt's
    // step, where its draw puts it; the fleet's draws cover [0, 1) evenly, and so its delays cover the jitter range.
    const policy = { baseMs: timing.backoffBaseMs, capMs: timing.backoffCapMs };
    expect(records.map((r) => r.delayMs)).toEqual(records.map((r, i) => backoffDelay(r.attempt!, policy, drawOf(i))));
    const positions = records.map((r) => {
      const stepOf = Math.min(timing.backoffCapMs, timing.backoffBaseMs * 2 ** r.attempt!);
      return (r.delayMs! - stepOf / 2) / (stepOf / 2);
    });
    for (const position of positions) {
      expect(position).toBeGreaterThanOrEqual(0);
      expect(position).toBeLessThanOrEqual(1);
    }
    expect(Math.max(...positions) - Math.min(...positions)).toBeGreaterThanOrEqual(0.9);
  }, 150_000);
});
