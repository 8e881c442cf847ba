// What `up` and `start` set up beside the daemon so people can see it: the status tracker behind the progress line,
// the status server (/, /status, /events, /metrics; on by default) and, with --inspect, the Stately inspector.
import type { InspectionEvent, Observer } from 'xstate';
import { createMetrics } from '../../inspect/metrics.ts';
import { startStatelyBridge, DEFAULT_INSPECT_PORT, STATELY_INSPECTOR_URL, type StatelyBridge } from '../../inspect/stately.ts';
import { createPauseControl, type PauseControl } from '../../inspect/pause-control.ts';
import { startStatusServer, DEFAULT_STATUS_PORT, type StatusServer } from '../../inspect/status-server.ts';
import { createStatusToken, statusTokenPath } from '../../inspect/status-token.ts';
import { StatusTracker } from '../../inspect/tracker.ts';
import type { PublishedRow } from '../../inspect/views.ts';
import type { SupervisorActorRef } from '../../machines/supervisor.ts';
import { EVERY_MODEL, wireName, type Config } from '../config/schema.ts';
import type { Daemon, DaemonObserver } from '../daemon.ts';
import type { Logger } from '../log.ts';
import { logActivity } from './activity-log.ts';
import { checkInspectorReachable } from './inspector-reach.ts';
import type { Progress } from './progress.ts';
import { parsePort } from './signals.ts';
import type { WatchFlags } from './watch-flags.ts';

export type { WatchFlags } from './watch-flags.ts';

export interface Watch {
  tracker: StatusTracker;
  statusUrl?: string;
  inspectorUrl?: string;
  /** For startDaemon. */
  inspect?: Observer<InspectionEvent>;
  /** For startDaemon's `follow`: the tracker follows the daemon's actors. */
  follow: (actor: SupervisorActorRef) => void;
  observer?: DaemonObserver;
  /** Tell the page what became of the daemon once startDaemon returned. */
  started(daemon: Daemon): void;
  close(): Promise<void>;
}

/** The rows a config publishes, as `status` and the live line name them. */
export function publishedRows(config: Pick<Config, 'providers'>): PublishedRow[] {
  return config.providers
    .filter((provider) => provider.publish)
    .map((provider) => ({
      name: wireName(provider),
      type: provider.type,
      model: provider.model,
      visibility: provider.visibility,
      ...(provider.poolName ? { poolName: provider.poolName } : {}),
      ...(provider.model === EVERY_MODEL ? { catalog: provider.name } : {}),
    }));
}

export async function startWatching(options: {
  flags: WatchFlags;
  status: Config['status'];
  hubUrl: string;
  logger: Logger;
  progress: Progress;
  /** What the config publishes, for the live line and `status`. */
  published?: PublishedRow[];
  configPath?: string;
  /** Where the status token is written: the page's pause and resume buttons and `llm-registrar pause` need it. */
  stateDir?: string;
}): Promise<Watch> {
  const { flags, status, logger } = options;
  const published = options.published ?? [];
  const tokenFile = options.stateDir === undefined ? undefined : statusTokenPath(options.stateDir);
  const tracker = new StatusTracker({ hubUrl: options.hubUrl, configPath: options.configPath, published, tokenFile });
  let control: PauseControl | undefined;
  const stopProgress = options.progress.watch(tracker, logger);
  const activity = logActivity({ tracker, logger, hubUrl: options.hubUrl });

  let server: StatusServer | undefined;
  let metrics: ReturnType<typeof createMetrics> | undefined;
  const observer: DaemonObserver = {
    firstToken: (llmName, ms, taskId) => {
      metrics?.firstToken(llmName, ms);
      activity.firstToken(taskId, ms);
    },
    hubUrl: (url) => tracker.setHubUrl(url),
    tokens: (taskId, count) => tracker.noteTokens(taskId, count),
  };
  const wantStatus = !flags.noStatus && (status.enabled || flags.statusPort !== undefined);
  if (wantStatus) {
    metrics = createMetrics(tracker);
    const port = parsePort(flags.statusPort, status.port, '--status-port');
    try {
      const writeToken = options.stateDir === undefined ? undefined : await createStatusToken(options.stateDir);
      server = await startStatusServer({ tracker, metrics, host: status.host, port, writeToken, control: () => control });
      logger.info({ url: server.url }, `status page at ${server.url}/ (JSON at /status, Prometheus at /metrics)`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? `${status.host}:${port} is in use (another registrar?)` : (error as Error).message;
      // Seeing the daemon is worth less than running it: go on without the page.
      logger.warn(`status server not started: ${why}; pass --status-port N for another port, or --no-status`);
    }
  }

  let bridge: StatelyBridge | undefined;
  if (flags.inspect) {
    const port = parsePort(flags.inspectPort, DEFAULT_INSPECT_PORT, '--inspect-port');
    try {
      bridge = await startStatelyBridge({ port });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(code === 'EADDRINUSE' ? `--inspect: port ${port} on 127.0.0.1 is in use: pass --inspect-port N` : `--inspect: ${(error as Error).message}`);
    }
    logger.info(
      { url: bridge.url },
      `Stately inspector: open ${bridge.url} (the page frames stately.ai/inspect, your browser posts it the actors' events; prompts and answers are left out)`,
    );
    // Not awaited: the daemon starts at once; the warning follows within the probe's timeout.
    void checkInspectorReachable(STATELY_INSPECTOR_URL, logger);
  }

  return {
    tracker,
    statusUrl: server?.url,
    inspectorUrl: bridge?.url,
    // The tracker always follows (the progress line needs it); XState's inspection only for the Stately inspector.
    inspect: bridge?.inspect,
    follow: (actor: SupervisorActorRef) => tracker.follow(actor),
    observer,
    started(daemon) {
      if (!daemon.actor) tracker.markIdle('nothing to publish: no provider in the config has "publish": true');
      else control = createPauseControl(() => daemon.actor);
    },
    async close() {
      control?.close();
      stopProgress();
      activity.stop();
      options.progress.stop();
      tracker.markStopped();
      await Promise.all([server?.close(), bridge?.close()]);
    },
  };
}
