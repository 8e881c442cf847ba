// A caller's call, from `model` to answer: resolve it (LLM, pool, agent), pick the least-busy healthy row that can
// carry it, wake it first when it hibernates (one wake per row shared by every call waiting on it), send the task
// (the caller's body as an `openai` frame to a registrar that speaks openai.v1, a base `infer` frame otherwise), and
// end the call exactly once: the registrar's answer, its error, the session lost, the deadline, or the caller gone.
import type { Logger } from 'pino';
import { CAPABILITY_OPENAI, limits, type ChatCompletionRequest, type ChatMessage, type InferFrame, type InferRequest, type OpenAiEndpoint, type OpenAiFrame, type UpstreamErrorFields } from '../protocol/index.ts';
import { CallMeter } from './call-meter.ts';
import { wallClock, type HubClock } from './clock.ts';
import { aboutModel, hubError, type HubError } from './error-codes.ts';
import type { ErrorDetail } from './errors.ts';
import { legacyCall } from './front/legacy.ts';
import type { Agent, LlmRow, Registry, Viewer } from './registry.ts';
import { shortId } from './session-ids.ts';
import type { TaskEnd, TaskRouter, WorkOrder } from './tasks.ts';
import type { UsageEntry } from './usage.ts';

/** A caller's body after the front door checked its envelope: `model` is there, the rest is the caller's. */
export type CallBody = Record<string, unknown> & { model: string; stream?: boolean };

export interface CallPlan {
  /** The caller's `model`, as asked: what the answer's `model` says. */
  readonly model: string;
  /** The user of the caller's token. */
  readonly caller: string;
  readonly row: LlmRow;
  readonly endpoint: OpenAiEndpoint;
  readonly streaming: boolean;
  readonly order: WorkOrder;
}

/** 499: the caller went away; nobody is left to answer, the status never reaches the wire. */
export interface CallFailure {
  ok: false;
  status: number;
  message: string;
  detail?: ErrorDetail;
}
export type CallOutcome = { ok: true; body?: Record<string, unknown> } | CallFailure;

export interface CallSink {
  chunk(data: string): void;
  finish(outcome: CallOutcome): void;
}

export interface DispatcherOptions {
  registry: Registry;
  tasks: TaskRouter;
  taskTimeoutMs: number;
  wakeTimeoutMs: number;
  logger: Logger;
  /** Default wall time: the call and wake deadlines run on it. */
  clock?: HubClock;
  /** Every finished call, once, after its info line is logged: the usage ledger and the metrics. */
  onCallFinished?: (entry: UsageEntry) => void;
}

type WakeOutcome = { ok: true } | CallFailure;

/** Room for what a frame adds around its request or body: kind, taskId, llmName, endpoint, streaming. */
const FRAME_ENVELOPE_BYTES = 512;

const ENDPOINT_PATHS: Record<OpenAiEndpoint, string> = {
  'chat.completions': '/v1/chat/completions',
  completions: '/v1/completions',
  embeddings: '/v1/embeddings',
};

export class Dispatcher {
  readonly #registry: Registry;
  readonly #tasks: TaskRouter;
  readonly #options: DispatcherOptions;
  readonly #clock: HubClock;
  readonly #now: () => number;
  /** Calls in flight per row name (the "least busy" of a pool). */
  readonly #busy = new Map<string, number>();
  /** When each row was last picked, to spread ties between equally busy rows. */
  readonly #lastPicked = new Map<string, number>();
  #picks = 0;
  readonly #wakes = new Map<string, Promise<WakeOutcome>>();
  readonly #calls = new Set<(failure: CallFailure) => void>();

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#registry = options.registry;
    this.#tasks = options.tasks;
    this.#clock = options.clock ?? wallClock;
    this.#now = this.#clock.now;
  }

  /**
   * Decides where a call goes, before any answer is started: 404 unknown (or invisible) model, 503 nothing healthy,
   * 400 a call that no healthy row can carry (a base-wire registrar and a field it would drop).
   */
  plan(viewer: Viewer, endpoint: OpenAiEndpoint, body: CallBody): { ok: true; plan: CallPlan } | CallFailure {
    const planned = this.#plan(viewer, endpoint, body);
    if (!planned.ok) {
      const model = typeof body.model === 'string' ? body.model : '';
      this.#callFinished({ at: this.#now(), caller: viewer.user, model, tokensIn: 0, tokensOut: 0, durationMs: 0, outcome: String(planned.status) });
    }
    return planned;
  }

  #plan(viewer: Viewer, endpoint: OpenAiEndpoint, body: CallBody): { ok: true; plan: CallPlan } | CallFailure {
    const target = this.#registry.resolve(viewer, body.model);
    if (!target) return refused(hubError('model_not_found', body.model), 'model');
    if (target.kind === 'agent' && target.rows.length === 0) {
      return refused(hubError('agent_llm_unavailable', target.name, target.agent.llmName));
    }
    const now = this.#now();
    const healthy = target.rows.filter((row) => this.#registry.isHealthy(row, now));
    if (healthy.length === 0) {
      // Its owner said "not now": say so, not "unhealthy"; the 503 carries Retry-After like any other.
      if (target.rows.some((row) => this.#registry.statusOf(row, now) === 'paused')) {
        return refused(hubError('paused', body.model));
      }
      const statuses = target.rows.map((row) => `${row.name}: ${this.#registry.statusOf(row, now)}`).join(', ');
      return refused(hubError('no_healthy_provider', body.model, statuses));
    }
    const agent = target.kind === 'agent' ? target.agent : undefined;
    const speaks = (row: LlmRow): boolean => this.#registry.speaks(row.sessionId, CAPABILITY_OPENAI);
    const legacy = healthy.every(speaks) ? undefined : legacyOrder(endpoint, body, agent);
    const carriers = healthy.filter((row) => speaks(row) || legacy?.ok === true);
    if (carriers.length === 0) {
      const refusal = legacy as CallFailure;
      return { ...refusal, message: aboutModel(body.model, refusal.message) };
    }
    const row = this.#pick(carriers);
    const streaming = endpoint !== 'embeddings' && body.stream === true;
    const order: Omit<OpenAiFrame, 'taskId'> | Omit<InferFrame, 'taskId'> =
      !speaks(row) && legacy?.ok === true
        ? { kind: 'infer', llmName: row.name, streaming, request: legacy.request }
        : { kind: 'openai', llmName: row.name, endpoint, streaming, body: agent ? withAgent(endpoint, body, agent) : body };
    // The registrar refuses a frame above maxFrameBytes; the caller hears it now rather than as an upstream error.
    const frameBytes = Buffer.byteLength(JSON.stringify(order.kind === 'openai' ? order.body : order.request)) + FRAME_ENVELOPE_BYTES;
    if (frameBytes > limits.maxFrameBytes) {
      return { ok: false, status: 413, message: `the request is too large for a task frame (${frameBytes} bytes, limit ${limits.maxFrameBytes})` };
    }
    this.#lastPicked.set(row.name, ++this.#picks);
    return { ok: true, plan: { model: body.model, caller: viewer.user, row, endpoint, streaming, order } };
  }

  /** Runs a planned call; `sink.finish` is called exactly once. Aborting `signal` cancels the registrar's task. */
  run(plan: CallPlan, sink: CallSink, signal: AbortSignal): void {
    const { row } = plan;
    const tasks = this.#tasks;
    const registry = this.#registry;
    let settled = false;
    let taskId: string | undefined;
    const { order } = plan;
    const meter = new CallMeter(order.kind === 'openai' ? order.body : order.kind === 'infer' ? { ...order.request } : {}, this.#now());

    const finish = (outcome: CallOutcome): void => {
      if (settled) return;
      settled = true;
      cancelDeadline();
      signal.removeEventListener('abort', onAbort);
      this.#calls.delete(failOnClose);
      const busy = this.busyCount(row.name) - 1;
      if (busy > 0) this.#busy.set(row.name, busy);
      else this.#busy.delete(row.name);
      if (!outcome.ok && outcome.status !== 499) {
        this.#options.logger.warn({ model: plan.model, llm: row.name, session: shortId(row.sessionId), status: outcome.status, taskId }, `task failed: ${outcome.message}`);
      }
      if (outcome.ok && outcome.body) meter.answer(outcome.body);
      const at = this.#now();
      this.#callFinished({
        at,
        caller: plan.caller,
        model: plan.model,
        row: row.name,
        rowOwner: row.owner,
        ...meter.tokens(),
        durationMs: at - meter.startedAt,
        ...(meter.firstChunkAt === undefined ? {} : { ttftMs: meter.firstChunkAt - meter.startedAt }),
        outcome: outcome.ok ? 'ok' : String(outcome.status),
      });
      sink.finish(outcome);
    };
    const stopTask = (): void => {
      if (taskId !== undefined) tasks.drop(taskId, { cancel: true });
    };
    const onAbort = (): void => {
      stopTask();
      finish({ ok: false, status: 499, message: 'the caller went away' });
    };
    const failOnClose = (failure: CallFailure): void => {
      if (taskId !== undefined) tasks.drop(taskId, { cancel: false });
      finish(failure);
    };

    this.#busy.set(row.name, this.busyCount(row.name) + 1);
    this.#calls.add(failOnClose);
    const cancelDeadline = this.#clock.after(this.#options.taskTimeoutMs, () => {
      stopTask();
      finish(refused(hubError('call_timeout', plan.model, this.#options.taskTimeoutMs)));
    });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    void this.#wakeIfHibernating(row).then((woke) => {
      if (settled) return;
      if (!woke.ok) return finish(woke);
      if (!registry.isSessionLive(row.sessionId, this.#now())) {
        return finish(refused(hubError('registrar_gone', plan.model, row.name)));
      }
      taskId = tasks.create(row.sessionId, plan.order, {
        chunk: (data) => {
          if (settled) return;
          meter.chunk(data, this.#now());
          sink.chunk(data);
        },
        end: (end) => finish(callOutcome(plan.model, end)),
      });
    });
  }

  /** Calls in flight on this hub. */
  get callCount(): number {
    return this.#calls.size;
  }

  /** Calls in flight on a row (picked and not finished yet). */
  busyCount(rowName: string): number {
    return this.#busy.get(rowName) ?? 0;
  }

  /** Shutdown: every call in flight ends with 503 at once. */
  close(message: string): void {
    for (const fail of [...this.#calls]) fail(refused(hubError('hub_shutting_down', message)));
  }

  /** The one place a finished call is told: one info line (never the caller's text), then the ledger and metrics. */
  #callFinished(entry: UsageEntry): void {
    const status = entry.outcome === 'ok' ? 200 : Number(entry.outcome);
    this.#options.logger.info(
      { user: entry.caller, model: entry.model, row: entry.row, status, durationMs: entry.durationMs, ttftMs: entry.ttftMs, tokensIn: entry.tokensIn, tokensOut: entry.tokensOut },
      `call ${entry.model} by ${entry.caller}: ${status} in ${entry.durationMs} ms, ${entry.tokensIn}+${entry.tokensOut} tokens`,
    );
    this.#options.onCallFinished?.(entry);
  }

  /**
   * A row whose registrar has its stream open before one that may be gone, active before hibernating (a wake can
   * take a minute), then fewest calls in flight (on every replica), then least recently picked.
   */
  #pick(rows: LlmRow[]): LlmRow {
    const rank = (row: LlmRow): number[] => [
      this.#tasks.hasStream(row.sessionId) ? 0 : 1,
      row.status === 'active' ? 0 : 1,
      this.busyCount(row.name) + (this.#tasks.busyElsewhere?.(row.name) ?? 0),
      this.#lastPicked.get(row.name) ?? 0,
    ];
    const before = (a: number[], b: number[]): boolean => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] ?? 0) < (b[i] ?? 0);
      return false;
    };
    return rows.reduce((best, row) => (before(rank(row), rank(best)) ? row : best));
  }

  #wakeIfHibernating(row: LlmRow): Promise<WakeOutcome> {
    const current = this.#registry.currentRow(row.name, row.sessionId);
    if (!current) return Promise.resolve(refused(hubError('row_unpublished', row.name)));
    if (current.status !== 'hibernating') return Promise.resolve({ ok: true });
    const key = `${row.sessionId}\n${row.name}`;
    const inProgress = this.#wakes.get(key);
    if (inProgress) return inProgress;

    const wake = new Promise<WakeOutcome>((resolve) => {
      const done = (outcome: WakeOutcome): void => {
        cancelTimer();
        this.#wakes.delete(key);
        if (outcome.ok) this.#registry.setStatus(row.sessionId, row.name, 'active');
        else this.#options.logger.warn({ llm: row.name, session: shortId(row.sessionId) }, `wake failed: ${outcome.message}`);
        resolve(outcome);
      };
      const cancelTimer = this.#clock.after(this.#options.wakeTimeoutMs, () => {
        this.#tasks.drop(wakeTaskId, { cancel: true });
        done(refused(hubError('wake_timeout', row.name, this.#options.wakeTimeoutMs)));
      });
      const wakeTaskId = this.#tasks.create(row.sessionId, { kind: 'wake', llmName: row.name }, { chunk: () => {}, end: (end) => done(wakeOutcome(row.name, end)) });
    });
    this.#wakes.set(key, wake);
    return wake;
  }
}

/** One of the hub's own errors (error-codes.ts) as a call's failure: its code (and the field at fault) for the caller. */
function refused(error: HubError, param?: string | null): CallFailure {
  return { ok: false, status: error.status, message: error.message, detail: { code: error.code, param: param ?? null } };
}

/** Redacts what a registrar's message may say about its own network (an upstream URL) before a caller reads it. */
function withoutUrls(message: string): string {
  return message.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, '(the model server)');
}

/**
 * How the caller hears a task's end. An upstream's 4xx is the caller's own mistake and keeps its status, message
 * and fields (so SDKs do not retry it); a 401/403 is the registrar's key, not the caller's; the rest is a 502 (or
 * the upstream's 503) naming the model.
 */
export function callOutcome(model: string, end: TaskEnd): CallOutcome {
  switch (end.kind) {
    case 'body':
      return { ok: true, body: end.body };
    case 'done':
      return { ok: true };
    case 'error':
      return upstreamFailure(model, end.message, end.upstream);
    case 'failed':
      return refused(hubError('task_failed', model, end.message));
  }
}

function upstreamFailure(model: string, message: string, upstream: UpstreamErrorFields): CallFailure {
  const { status } = upstream;
  const detail: ErrorDetail = { ...(upstream.type === undefined ? {} : { type: upstream.type }), code: upstream.code ?? null, param: upstream.param ?? null };
  if (status === 401 || status === 403) {
    return refused(hubError('upstream_key_refused', model));
  }
  if (status !== undefined && status >= 400 && status < 500) return { ok: false, status, message, detail };
  const failed = hubError('upstream_failed', model, withoutUrls(message));
  return refused(status === 503 ? { ...failed, status: 503 } : failed);
}

function wakeOutcome(name: string, end: TaskEnd): WakeOutcome {
  if (end.kind === 'body' || end.kind === 'done') return { ok: true };
  return refused(hubError('wake_failed', name, withoutUrls(end.message)));
}

/** The base-wire order for a chat call, or the 400 that names what it cannot carry. */
function legacyOrder(endpoint: OpenAiEndpoint, body: CallBody, agent?: Agent): { ok: true; request: InferRequest } | CallFailure {
  if (endpoint !== 'chat.completions') {
    return refused(hubError('unsupported_endpoint', ENDPOINT_PATHS[endpoint]));
  }
  const call = legacyCall(body);
  if (!call.ok) return refused(hubError('unsupported_parameter', call.message), call.param);
  return { ok: true, request: inferRequest(call.body, agent) };
}

/**
 * An agent's call as its LLM gets it: the system prompt first (chat), the defaults where the caller set nothing;
 * `model` and what the caller's text is are never a default's to change.
 */
export function withAgent(endpoint: OpenAiEndpoint, body: CallBody, agent: Agent): CallBody {
  if (endpoint === 'embeddings') return body;
  const out: CallBody = { ...body };
  for (const [field, value] of Object.entries(agent.defaultParams ?? {})) {
    if (out[field] === undefined && !AGENT_PROOF.has(field)) out[field] = value;
  }
  if (endpoint === 'chat.completions' && agent.systemPrompt && Array.isArray(body.messages)) {
    out.messages = [{ role: 'system', content: agent.systemPrompt }, ...body.messages];
  }
  return out;
}

const AGENT_PROOF = new Set(['model', 'messages', 'prompt', 'input', 'stream']);

/** The infer request for the registrar: an agent's system prompt first, its defaults where the caller set nothing. */
export function inferRequest(body: ChatCompletionRequest, agent?: Agent): InferRequest {
  const messages: ChatMessage[] = body.messages.map(({ role, content }) => ({ role, content }));
  if (agent?.systemPrompt) messages.unshift({ role: 'system', content: agent.systemPrompt });
  const defaults = agent?.defaultParams ?? {};
  const temperature = body.temperature ?? (typeof defaults.temperature === 'number' ? defaults.temperature : undefined);
  const maxTokens = body.max_tokens ?? (Number.isInteger(defaults.max_tokens) && (defaults.max_tokens as number) >= 1 ? (defaults.max_tokens as number) : undefined);
  return {
    messages,
    ...(temperature === undefined ? {} : { temperature }),
    ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
  };
}
