// A caller's chat request, from `model` to answer: resolve it (LLM, pool, agent), pick the least-busy healthy row,
// wake it first when it hibernates (one wake per row shared by every call waiting on it), send the infer task, and
// end the call exactly once: the registrar's answer, its error, the session lost, the deadline, or the caller gone.
import type { Logger } from 'pino';
import { limits, type ChatCompletionRequest, type ChatMessage, type InferRequest } from '../protocol/index.ts';
import type { Agent, LlmRow, Registry, Viewer } from './registry.ts';
import { shortId } from './session-ids.ts';
import type { TaskEnd, TaskTable } from './tasks.ts';

export interface CallPlan {
  /** The caller's `model`, as asked. */
  readonly model: string;
  readonly row: LlmRow;
  readonly request: InferRequest;
  readonly streaming: boolean;
}

/** 499: the caller went away; nobody is left to answer, the status never reaches the wire. */
export interface CallFailure {
  ok: false;
  status: 404 | 413 | 499 | 502 | 503 | 504;
  message: string;
}
export type CallOutcome = { ok: true; body?: Record<string, unknown> } | CallFailure;

export interface CallSink {
  chunk(data: string): void;
  finish(outcome: CallOutcome): void;
}

export interface DispatcherOptions {
  registry: Registry;
  tasks: TaskTable;
  taskTimeoutMs: number;
  wakeTimeoutMs: number;
  logger: Logger;
  now?: () => number;
}

type WakeOutcome = { ok: true } | CallFailure;

/** Room for what an infer frame adds around its request: kind, taskId, llmName, streaming. */
const FRAME_ENVELOPE_BYTES = 512;

export class Dispatcher {
  readonly #registry: Registry;
  readonly #tasks: TaskTable;
  readonly #options: DispatcherOptions;
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
    this.#now = options.now ?? Date.now;
  }

  /** Decides where a call goes, before any answer is started: 404 unknown (or invisible) model, 503 nothing healthy. */
  plan(viewer: Viewer, body: ChatCompletionRequest): { ok: true; plan: CallPlan } | CallFailure {
    const target = this.#registry.resolve(viewer, body.model);
    if (!target) return { ok: false, status: 404, message: `model '${body.model}' not found` };
    if (target.kind === 'agent' && target.rows.length === 0) {
      return { ok: false, status: 503, message: `agent '${target.name}': its LLM '${target.agent.llmName}' is not available` };
    }
    const now = this.#now();
    const healthy = target.rows.filter((row) => this.#registry.isHealthy(row, now));
    if (healthy.length === 0) {
      const statuses = target.rows.map((row) => `${row.name}: ${this.#registry.statusOf(row, now)}`).join(', ');
      return { ok: false, status: 503, message: `model '${body.model}' has no healthy provider (${statuses})` };
    }
    const request = inferRequest(body, target.kind === 'agent' ? target.agent : undefined);
    // The registrar refuses a frame above maxFrameBytes; the caller hears it now rather than as an upstream error.
    const frameBytes = Buffer.byteLength(JSON.stringify(request)) + FRAME_ENVELOPE_BYTES;
    if (frameBytes > limits.maxFrameBytes) {
      return { ok: false, status: 413, message: `the request is too large for a task frame (${frameBytes} bytes, limit ${limits.maxFrameBytes})` };
    }
    const row = this.#pick(healthy);
    this.#lastPicked.set(row.name, ++this.#picks);
    return { ok: true, plan: { model: body.model, row, request, streaming: body.stream === true } };
  }

  /** Runs a planned call; `sink.finish` is called exactly once. Aborting `signal` cancels the registrar's task. */
  run(plan: CallPlan, sink: CallSink, signal: AbortSignal): void {
    const { row } = plan;
    const tasks = this.#tasks;
    const registry = this.#registry;
    let settled = false;
    let taskId: string | undefined;

    const finish = (outcome: CallOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal.removeEventListener('abort', onAbort);
      this.#calls.delete(failOnClose);
      const busy = this.busyCount(row.name) - 1;
      if (busy > 0) this.#busy.set(row.name, busy);
      else this.#busy.delete(row.name);
      if (!outcome.ok && outcome.status !== 499) {
        this.#options.logger.warn({ model: plan.model, llm: row.name, session: shortId(row.sessionId), status: outcome.status, taskId }, `task failed: ${outcome.message}`);
      }
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
    const deadline = setTimeout(() => {
      stopTask();
      finish({ ok: false, status: 504, message: `model '${plan.model}' did not answer within ${this.#options.taskTimeoutMs} ms` });
    }, this.#options.taskTimeoutMs);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    void this.#wakeIfHibernating(row).then((woke) => {
      if (settled) return;
      if (!woke.ok) return finish(woke);
      if (!registry.isSessionLive(row.sessionId, this.#now())) {
        return finish({ ok: false, status: 503, message: `model '${plan.model}': the registrar publishing '${row.name}' stopped answering` });
      }
      taskId = tasks.create(
        row.sessionId,
        { kind: 'infer', llmName: row.name, streaming: plan.streaming, request: plan.request },
        {
          chunk: (data) => {
            if (!settled) sink.chunk(data);
          },
          end: (end) => finish(inferOutcome(end)),
        },
      );
    });
  }

  /** Calls in flight on a row (picked and not finished yet). */
  busyCount(rowName: string): number {
    return this.#busy.get(rowName) ?? 0;
  }

  /** Shutdown: every call in flight ends with 503 at once. */
  close(message: string): void {
    for (const fail of [...this.#calls]) fail({ ok: false, status: 503, message });
  }

  /** Active before hibernating (a wake can take a minute), then fewest calls in flight, then least recently picked. */
  #pick(rows: LlmRow[]): LlmRow {
    const rank = (row: LlmRow): [number, number, number] => [row.status === 'active' ? 0 : 1, this.busyCount(row.name), this.#lastPicked.get(row.name) ?? 0];
    return rows.reduce((best, row) => {
      const [a, b] = [rank(row), rank(best)];
      return a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2]))) ? row : best;
    });
  }

  #wakeIfHibernating(row: LlmRow): Promise<WakeOutcome> {
    const current = this.#registry.currentRow(row.name, row.sessionId);
    if (!current) return Promise.resolve({ ok: false, status: 503, message: `'${row.name}' is no longer published by its registrar` });
    if (current.status !== 'hibernating') return Promise.resolve({ ok: true });
    const key = `${row.sessionId}\n${row.name}`;
    const inProgress = this.#wakes.get(key);
    if (inProgress) return inProgress;

    const wake = new Promise<WakeOutcome>((resolve) => {
      const done = (outcome: WakeOutcome): void => {
        clearTimeout(timer);
        this.#wakes.delete(key);
        if (outcome.ok) this.#registry.setStatus(row.sessionId, row.name, 'active');
        else this.#options.logger.warn({ llm: row.name, session: shortId(row.sessionId) }, `wake failed: ${outcome.message}`);
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        this.#tasks.drop(wakeTaskId, { cancel: true });
        done({ ok: false, status: 504, message: `'${row.name}' did not wake up within ${this.#options.wakeTimeoutMs} ms` });
      }, this.#options.wakeTimeoutMs);
      const wakeTaskId = this.#tasks.create(row.sessionId, { kind: 'wake', llmName: row.name }, { chunk: () => {}, end: (end) => done(wakeOutcome(row.name, end)) });
    });
    this.#wakes.set(key, wake);
    return wake;
  }
}

function inferOutcome(end: TaskEnd): CallOutcome {
  switch (end.kind) {
    case 'body':
      return { ok: true, body: end.body };
    case 'done':
      return { ok: true };
    case 'error':
      return { ok: false, status: 502, message: end.message };
    case 'failed':
      return { ok: false, status: 503, message: end.message };
  }
}

function wakeOutcome(name: string, end: TaskEnd): WakeOutcome {
  if (end.kind === 'body' || end.kind === 'done') return { ok: true };
  return { ok: false, status: 503, message: `could not wake '${name}': ${end.message}` };
}

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
