// A hub and a registrar daemon on 127.0.0.1 with everything that watches it: the status tracker, the metrics, the
// status server and, when asked, the Stately bridge; the stage of the inspect and browser tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectionEvent, Observer } from 'xstate';
import { createMetrics, type RegistrarMetrics } from '../../inspect/metrics.ts';
import { createPauseControl, type PauseControl } from '../../inspect/pause-control.ts';
import { startStatelyBridge, type StatelyBridge } from '../../inspect/stately.ts';
import { createStatusToken, statusTokenPath } from '../../inspect/status-token.ts';
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
  /** More tokens the hub knows, beside the registrar's admin TOKEN. */
  tokens?: Record<string, { user: string; admin?: boolean }>;
  /** Another observer of every inspection event. */
  inspect?: Observer<InspectionEvent>;
}

export interface Watched {
  hubUrl: string;
  daemon: Daemon;
  tracker: StatusTracker;
  metrics: RegistrarMetrics;
  status: StatusServer;
  /** The run's status token (POST /pause, /resume) and the state dir holding its file. */
  statusToken: string;
  stateDir: string;
  stately?: StatelyBridge;
  /** The status server goes away (what a page sees when the daemon dies) and comes back on the same port. */
  stopStatus(): Promise<void>;
  startStatus(): Promise<void>;
  stopHub(): Promise<void>;
  startHub(): Promise<void>;
  close(): Promise<void>;
}

export async function startWatched(options: WatchedOptions): Promise<Watched> {
  const stateDir = await mkdtemp(join(tmpdir(), 'llmr-watched-'));
  // The hub keeps its session key there too, so a restarted hub still verifies the registrar's session id.
  const hubOptions = (port: number) => ({ port, tokens: { ...options.tokens, [TOKEN]: { user: 'tester', admin: true } }, stateDir: join(stateDir, 'hub'), ...fastHub });
  let hub: Hub | undefined = await startHub(hubOptions(0));
  const hubPort = hub.port;
  const hubUrl = hub.url;
  const parsed = parseConfig({ hub: { url: hubUrl, token: TOKEN }, providers: options.providers, timing: { ...fastTiming, ...options.timing } }, {});
  if (!parsed.ok) throw new Error(`test config invalid: ${parsed.problems.join('; ')}`);

  const tracker = new StatusTracker({ hubUrl, tokenFile: statusTokenPath(stateDir) });
  const metrics = createMetrics(tracker);
  const statusToken = await createStatusToken(stateDir);
  let control: PauseControl | undefined;
  const statusOptions = (port: number) => ({ tracker, metrics, port, keepAliveMs: 1_000, writeToken: statusToken, control: () => control });
  let status = await startStatusServer(statusOptions(0));
  const statusPort = status.port;
  const stately = options.stately ? await startStatelyBridge({ port: 0 }) : undefined;
  const daemon = await startDaemon({
    config: parsed.config,
    stateDir,
    logger: silentLogger(),
    inspect: combineObservers(stately?.inspect, options.inspect),
    follow: (actor) => tracker.follow(actor),
    observer: { firstToken: metrics.firstToken, tokens: (taskId, count) => tracker.noteTokens(taskId, count) },
  });
  control = createPauseControl(() => daemon.actor);

  return {
    hubUrl,
    daemon,
    tracker,
    metrics,
    get status() {
      return status;
    },
    statusToken,
    stateDir,
    stately,
    async stopStatus() {
      await status.close();
    },
    async startStatus() {
      status = await startStatusServer(statusOptions(statusPort));
    },
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
      control?.close();
      await Promise.all([status.close(), stately?.close(), hub?.close()]);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
