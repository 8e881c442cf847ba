// The registrar daemon: builds the supervisor actor from the config, fills the machines' actor placeholders with
// the real I/O, persists the facts that survive a restart, and logs every transition that matters.
import { createActor, type ActorOptions, type AnyActorLogic, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate';
import type { ActorDeps, DaemonObserver, PublishedProvider } from '../actors/deps.ts';
import { createRegistrarImplementations } from '../actors/implementations.ts';
import { syncCatalog } from '../actors/list-models.ts';
import type { ProviderInput } from '../machines/provider.ts';
import { publishedNames } from '../machines/selectors.ts';
import type { SupervisorActorRef, SupervisorContext } from '../machines/supervisor.ts';
import { provideSupervisor } from '../machines/wiring.ts';
import { EVERY_MODEL, wireName, type Config, type ProviderConfig, type Timing } from './config/schema.ts';
import { urlCredentialWarnings } from './config/url-credentials.ts';
import { HubClient } from './hub-client.ts';
import type { Logger } from './log.ts';
import { lockStateDir } from './persistence/lock.ts';
import { createSnapshotStore, type PersistedFacts, type SnapshotStore } from './persistence/store.ts';
import { limits } from './protocol/index.ts';
import { createProvider } from './providers/index.ts';
import { redactUrl } from './redact.ts';

export type { DaemonObserver } from '../actors/deps.ts';

export interface DaemonOptions {
  config: Config;
  stateDir: string;
  logger: Logger;
  /** Receives every inspection event of every actor (the Stately inspector; tests): costs every event of every actor. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Told the supervisor before it starts: the status tracker follows the actor tree from it. */
  follow?: (actor: SupervisorActorRef) => void;
  /** Hooks for what no machine sees (the first token of a stream): the status server's metrics. */
  observer?: DaemonObserver;
  random?: () => number;
  /** Drives the machines' delays (backoff, watchdogs, wake polls); tests pass xstate's SimulatedClock. */
  clock?: ActorOptions<AnyActorLogic>['clock'];
}

export interface Daemon {
  /** Undefined when nothing is published: the daemon idles and never connects. */
  actor?: SupervisorActorRef;
  /** First call drains (finish running tasks, then stop); a second forces. */
  drain(): void;
  /** Resolves once the daemon has stopped and its state is on disk. */
  stopped: Promise<void>;
}

function factsOf(context: SupervisorContext): PersistedFacts {
  const providers: PersistedFacts['providers'] = {};
  for (const [name, phase] of Object.entries(context.providerStatus)) {
    if (phase === 'active' || phase === 'hibernating' || phase === 'unavailable') providers[name] = phase;
  }
  return {
    sessionId: context.sessionId,
    providers,
    // Tasks of the last run not answered yet stay in flight: a registrar that dies again answers them next time.
    inFlight: [...context.restarted, ...[...context.inFlight.entries()].map(([taskId, llmName]) => ({ taskId, llmName }))],
  };
}

function upstreamOf(config: ProviderConfig): string {
  return config.type === 'demo' ? 'the built-in demo model' : `${config.type} at ${redactUrl(config.baseUrl ?? '')}`;
}

/** A provider machine's input, but its wire name: the same for every model of a `model: "*"` provider. */
function providerInputOf(config: ProviderConfig, timing: Timing): Omit<ProviderInput, 'name'> {
  return {
    maxQueue: limits.maxQueuedPerProvider,
    upstream: upstreamOf(config),
    hasWake: config.wake !== undefined,
    maxConcurrency: config.maxConcurrency,
    wakePollStartMs: timing.wakePollStartMs,
    wakePollMs: timing.wakePollMs,
    wakeMaxWaitMs: (config.wake?.maxWaitSeconds ?? 60) * 1000,
    reprobeMs: timing.reprobeMs,
    reprobeCapMs: timing.reprobeCapMs,
  };
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, logger } = options;
  const timing = config.timing;
  const publishedConfigs = config.providers.filter((p) => p.publish);
  if (publishedConfigs.length === 0) {
    logger.warn('nothing to publish: no provider in the config has "publish": true; staying idle');
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    return { drain: () => stop(), stopped };
  }

  const catalogs = new Map(publishedConfigs.filter((p) => p.model === EVERY_MODEL).map((p) => [p.name, p]));
  for (const warning of urlCredentialWarnings(config)) logger.warn(warning);
  const providers = new Map<string, PublishedProvider>(
    publishedConfigs.filter((p) => p.model !== EVERY_MODEL).map((providerConfig) => [
      wireName(providerConfig),
      { wireName: wireName(providerConfig), config: providerConfig, provider: createProvider(providerConfig, { upstreamIdleMs: timing.upstreamIdleMs }) },
    ]),
  );
  const hub = new HubClient({
    url: config.hub.urls,
    token: config.hub.token,
    requestTimeoutMs: timing.requestTimeoutMs,
    resultDeadlineMs: timing.resultDeadlineMs,
    failbackMs: timing.hubFailbackMs,
    onUrlChange: (url, previous, why) => {
      logger.warn({ hub: redactUrl(url), previous: redactUrl(previous) }, `hub ${redactUrl(previous)}: ${why}; calling ${redactUrl(url)} now`);
      options.observer?.hubUrl?.(url);
    },
  });
  const deps: ActorDeps = { hub, providers, catalogs, agents: config.agents, timing, logger, observer: options.observer };
  // The first register publishes the models listed now; the catalogs keep them in sync from there.
  const listed = await Promise.all(
    [...catalogs.values()].map(async (source) => {
      const names = (await syncCatalog(deps, source)) ?? [];
      if (names.length === 0) logger.warn({ provider: source.name }, `'${source.name}' lists no model yet: its models are published as they appear`);
      return { source: source.name, provider: providerInputOf(source, timing), names };
    }),
  );

  // Before anything is read: a second registrar on this directory stops here, naming the first one's pid.
  const lock = await lockStateDir(options.stateDir, logger);
  const store = createSnapshotStore(options.stateDir, logger);
  const facts = await store.load();
  if (facts?.inFlight.length) logger.warn({ tasks: facts.inFlight.length }, 'answering tasks that were in flight when the registrar last stopped');

  const machine = provideSupervisor(createRegistrarImplementations(deps));

  const actor = createActor(machine, {
    input: {
      session: {
        sessionId: facts?.sessionId,
        random: options.random,
        timing: {
          heartbeatMs: timing.heartbeatMs,
          backoffBaseMs: timing.backoffBaseMs,
          backoffCapMs: timing.backoffCapMs,
          streamIdleMs: timing.streamIdleMs,
        },
      },
      providers: [...providers.values()].map((published) => ({ name: published.wireName, ...providerInputOf(published.config, timing) })),
      catalogs: listed,
      modelSyncMs: timing.modelSyncMs,
      drainMs: timing.drainMs,
      forceGraceMs: Math.min(timing.forceGraceMs, timing.resultDeadlineMs),
      restartedTasks: facts?.inFlight ?? [],
    },
    inspect: options.inspect,
    // Spread only when given: an explicit `clock: undefined` would replace xstate's default clock.
    ...(options.clock ? { clock: options.clock } : {}),
  });

  options.follow?.(actor);
  persistFacts(actor, store);
  logTransitions(actor, logger);

  const stopped = new Promise<void>((resolve) => {
    const finish = () => void store.flush().then(() => lock.release()).then(resolve);
    actor.subscribe({
      complete: finish,
      error: (error) => {
        logger.fatal({ err: error }, 'supervisor crashed');
        finish();
      },
    });
  });
  actor.start();

  let drains = 0;
  return {
    actor,
    drain: () => {
      if (actor.getSnapshot().status !== 'active') return;
      drains++;
      logger.info(drains === 1 ? 'draining: finishing running tasks, taking no new ones' : 'forcing shutdown');
      actor.send({ type: 'daemon.drain' });
    },
    stopped,
  };
}

/** Write the facts that survive a restart whenever they change (the store coalesces the writes). */
function persistFacts(actor: SupervisorActorRef, store: SnapshotStore): void {
  // The machines replace these objects when they change them (the tasks in flight count their changes): comparing
  // references costs nothing per snapshot, where serializing the facts to compare them cost O(tasks in flight) twice
  // per task. The facts themselves are read when the store writes, at most once per its debounce however busy.
  let last: (Pick<SupervisorContext, 'sessionId' | 'providerStatus' | 'restarted'> & { inFlight: number }) | undefined;
  const latestFacts = () => factsOf(actor.getSnapshot().context);
  actor.subscribe({
    next: ({ context }) => {
      if (
        last &&
        context.sessionId === last.sessionId &&
        context.providerStatus === last.providerStatus &&
        context.inFlight.version === last.inFlight &&
        context.restarted === last.restarted
      ) {
        return;
      }
      last = { sessionId: context.sessionId, providerStatus: context.providerStatus, inFlight: context.inFlight.version, restarted: context.restarted };
      store.save(latestFacts);
    },
  });
}

/** One debug line per session / provider / supervisor state change. */
function logTransitions(actor: SupervisorActorRef, logger: Logger): void {
  let supervisorState = '';
  actor.subscribe((snapshot) => {
    const state = JSON.stringify(snapshot.value);
    if (state !== supervisorState) logger.debug({ state: snapshot.value }, 'supervisor');
    supervisorState = state;
  });
  const watch = (id: string) => {
    const child = (actor.getSnapshot().children as Record<string, AnyActorRef | undefined>)[id];
    if (!child) return;
    let previous = '';
    let wasRefused = false;
    child.subscribe((snapshot: { value: unknown; context: { lastError?: string; refused?: boolean } }) => {
      const state = JSON.stringify(snapshot.value);
      if (state === previous) return;
      previous = state;
      // A hub that refuses us (401/409) needs a person: say it loudly, every time we retry, and say when it is over.
      // The rest is for debugging: at info, `start` says when it is live and what each call did (activity-log.ts).
      const refused = snapshot.context.refused === true;
      const level = refused ? 'error' : wasRefused ? 'info' : 'debug';
      wasRefused = refused;
      logger[level]({ actor: id, state: snapshot.value, ...(snapshot.context.lastError ? { reason: snapshot.context.lastError } : {}) }, `${id} → ${flatten(snapshot.value)}`);
    });
  };
  watch('session');
  for (const name of publishedNames(actor.getSnapshot())) watch(`provider:${name}`);
}

function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, inner] = Object.entries(value as Record<string, unknown>)[0] ?? [];
  return key === undefined ? '' : `${key}.${flatten(inner)}`;
}
