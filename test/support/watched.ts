// A hub and a registrar daemon on 127.0.0.1 with everything that watches it: the status tracker, the metrics, the
// status server and, when asked, the Stately bridge; the stage of the inspect and browser tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectionEvent, Observer } from 'xstate';
import { createMetrics, type RegistrarMetrics } from '../../inspect/metrics.ts';
import { startStatelyBridge, type StatelyBridge } from '../../inspect/stately.ts';
import { startStatusServer, type StatusServer } from '../../inspect/status-server.ts';
import { combineObservers, StatusTracker } from '../../inspect/tracker.ts';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { silentLogger } from '../../src/log.ts';
import { fastHub, fastTiming, TOKEN } from './cluster.ts';

export interface WatchedOptions {
  providers: Record<string, unknown>[];
  timing?: Record<string, number>;
  stately?: boolean;
  /** Another observer of every inspection event. */
  inspect?: Observer<InspectionEvent>;
}

export interface Watched {
  hubUrl: string;
  daemon: Daemon;
  tracker: StatusTracker;
  metrics: RegistrarMetrics;
  status: StatusServer;
  stately?: StatelyBridge;
  stopHub(): Promise<void>;
  startHub(): Promise<void>;
  close(): Promise<void>;
}

export async function startWatched(options: WatchedOptions): Promise<Watched> {
  const stateDir = await mkdtemp(join(tmpdir(), 'llmr-watched-'));
  // The hub keeps its session key there too, so a restarted hub still verifies the registrar's session id.
  const hubOptions = (port: number) => ({ port, tokens: { [TOKEN]: { user: 'tester', admin: true } }, stateDir: join(stateDir, 'hub'), ...fastHub });
  let hub: Hub | undefined = await startHub(hubOptions(0));
  const hubPort = hub.port;
  const hubUrl = hub.url;
  const parsed = parseConfig({ hub: { url: hubUrl, token: TOKEN }, providers: options.providers, timing: { ...fastTiming, ...options.timing } }, {});
  if (!parsed.ok) throw new Error(`test config invalid: ${parsed.problems.join('; ')}`);

  const tracker = new StatusTracker({ hubUrl });
  const metrics = createMetrics(tracker);
  const status = await startStatusServer({ tracker, metrics, port: 0, keepAliveMs: 1_000 });
  const stately = options.stately ? await startStatelyBridge({ port: 0 }) : undefined;
  const daemon = await startDaemon({
    config: parsed.config,
    stateDir,
    logger: silentLogger(),
    inspect: combineObservers(tracker.inspect, stately?.inspect, options.inspect),
    observer: { firstToken: metrics.firstToken },
  });

  return {
    hubUrl,
    daemon,
    tracker,
    metrics,
    status,
    stately,
    async stopHub() {
      await hub?.close();
      hub = undefined;
    },
    async startHub() {
      hub = await startHub(hubOptions(hubPort));
    },
    async close() {
      daemon.drain();
      daemon.drain();
      await daemon.stopped;
      await Promise.all([status.close(), stately?.close(), hub?.close()]);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
