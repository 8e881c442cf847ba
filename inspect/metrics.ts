// The registrar's Prometheus metrics (prom-client, on a registry of its own): fed by the status tracker's
// transitions, a few counter updates per task and nothing per token; gauges are read when scraped.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { taskFacts } from '../machines/selectors.ts';
import { TASK_ENDS, type TaskContext } from '../machines/task.ts';
import type { StatusTracker, TransitionNotice } from './tracker.ts';

export interface RegistrarMetrics {
  registry: Registry;
  /** The first token of a streamed task arrived `ms` after its frame did. */
  firstToken(llmName: string, ms: number): void;
  /** The Prometheus text exposition. */
  text(): Promise<string>;
  contentType: string;
}

const SECONDS_TASK = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const SECONDS_FIRST_TOKEN = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const SECONDS_WAKE = [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

export function createMetrics(tracker: StatusTracker): RegistrarMetrics {
  const registry = new Registry();
  const known = (name: string) => tracker.providerSnapshots().some((provider) => provider.name === name);
  // A frame may name any LLM; only the published ones become label values, so a confused hub cannot blow up the series.
  const providerLabel = (name: string) => (name && known(name) ? name : 'unknown');

  const tasks = new Counter({
    name: 'llm_registrar_tasks_total',
    help: 'Tasks that ended, by provider, kind (infer, wake) and outcome (done, failed, cancelled)',
    labelNames: ['provider', 'kind', 'outcome'] as const,
    registers: [registry],
  });
  const taskDuration = new Histogram({
    name: 'llm_registrar_task_duration_seconds',
    help: 'From the task frame arriving to its final result being posted',
    labelNames: ['provider', 'kind', 'outcome'] as const,
    buckets: SECONDS_TASK,
    registers: [registry],
  });
  const firstToken = new Histogram({
    name: 'llm_registrar_time_to_first_token_seconds',
    help: 'From a streamed task frame arriving to the first token from the local model server',
    labelNames: ['provider'] as const,
    buckets: SECONDS_FIRST_TOKEN,
    registers: [registry],
  });
  const registerAttempts = new Counter({
    name: 'llm_registrar_register_attempts_total',
    help: 'Register calls to the hub, by result (ok, failed, refused: a 401, 403 or 409)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const streamFailures = new Counter({
    name: 'llm_registrar_stream_failures_total',
    help: 'Times the task stream failed or went silent and a reconnect was scheduled after a backoff',
    registers: [registry],
  });
  const reconnects = new Counter({
    name: 'llm_registrar_stream_reconnects_total',
    help: 'Times the task stream opened again after it had been open before',
    registers: [registry],
  });
  const wakeDuration = new Histogram({
    name: 'llm_registrar_wake_duration_seconds',
    help: 'How long a wake took, by provider and outcome (ok: the provider became active; failed: back to hibernating)',
    labelNames: ['provider', 'outcome'] as const,
    buckets: SECONDS_WAKE,
    registers: [registry],
  });
  new Gauge({
    name: 'llm_registrar_queue_depth',
    help: 'Tasks waiting for a free slot, by provider',
    labelNames: ['provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { name, context } of tracker.providerSnapshots()) this.set({ provider: name }, (context.queue as unknown[]).length);
    },
  });
  new Gauge({
    name: 'llm_registrar_tasks_running',
    help: 'Tasks running now, by provider',
    labelNames: ['provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { name, context } of tracker.providerSnapshots()) this.set({ provider: name }, (context.running as unknown[]).length);
    },
  });
  new Gauge({
    name: 'llm_registrar_session_connected',
    help: '1 while the task stream to the hub is open, else 0',
    registers: [registry],
    collect() {
      this.set(tracker.sessionView()?.connected ? 1 : 0);
    },
  });

  let streamOpenedBefore = false;
  const wakeStarted = new Map<string, number>();
  const onSession = (notice: TransitionNotice) => {
    if (notice.from === 'registering' && notice.to.startsWith('connected')) registerAttempts.inc({ result: 'ok' });
    if (notice.from === 'registering' && notice.to === 'retrying') registerAttempts.inc({ result: notice.context.refused === true ? 'refused' : 'failed' });
    if (notice.to === 'connected.backoff') streamFailures.inc();
    if (notice.to === 'connected.streaming.open') {
      if (streamOpenedBefore) reconnects.inc();
      streamOpenedBefore = true;
    }
  };
  const onProvider = (notice: TransitionNotice) => {
    const name = notice.actor.replace(/^provider:/, '');
    const waking = notice.to.startsWith('waking');
    if (waking && !notice.from.startsWith('waking')) wakeStarted.set(name, Date.parse(notice.at));
    const started = wakeStarted.get(name);
    if (!waking && started !== undefined) {
      wakeStarted.delete(name);
      wakeDuration.observe({ provider: name, outcome: notice.to === 'active' ? 'ok' : 'failed' }, (Date.parse(notice.at) - started) / 1000);
    }
  };
  const onTask = (notice: TransitionNotice) => {
    if (!TASK_ENDS.has(notice.to)) return;
    const task = taskFacts(notice.context as unknown as TaskContext);
    const labels = { provider: providerLabel(task.llmName), kind: task.kind ?? 'refused', outcome: notice.to };
    tasks.inc(labels);
    if (task.receivedAt !== undefined) taskDuration.observe(labels, (Date.parse(notice.at) - task.receivedAt) / 1000);
  };
  tracker.onTransition((notice) => {
    if (notice.kind === 'task') onTask(notice);
    else if (notice.kind === 'session') onSession(notice);
    else if (notice.kind === 'provider') onProvider(notice);
  });

  return {
    registry,
    firstToken: (llmName, ms) => firstToken.observe({ provider: providerLabel(llmName) }, ms / 1000),
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
