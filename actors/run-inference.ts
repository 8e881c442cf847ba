// Run one task on its provider and deliver what it produced: a completion, or a token stream relayed as chunks as the
// tokens arrive; for an `openai` frame (SPEC.md §5), the caller's call as sent and the upstream's answer as said,
// payload by payload. Every result it produces leaves from here (chunks through the poster, the final result through
// the same upload or `deliverResult`); the task machine posts only what went wrong.
import { fromPromise } from 'xstate';
import type { RunTaskInput, RunTaskOutput } from '../machines/task.ts';
import { HubCallError, TaskGoneError } from '../src/hub-client.ts';
import { TASK_ERROR, isTaskFailure, type TaskFailure } from '../src/protocol/errors.ts';
import { CAPABILITY_RESULT_STREAM, completionEnvelope, DONE, type InferFrame, type OpenAiFrame, type TaskResult, type WorkFrame } from '../src/protocol/index.ts';
import { UnsupportedField, UpstreamError, type OpenAiCall } from '../src/providers/types.ts';
import type { ActorDeps, PublishedProvider } from './deps.ts';
import { deliverResult } from './post-result.ts';
import { PayloadMerge, ResultPoster, TextMerge } from './result-poster.ts';
import { ResultUpload } from './result-upload.ts';

type RunDeps = Pick<ActorDeps, 'hub' | 'providers' | 'timing' | 'logger' | 'observer'>;

const UPSTREAM_CODES = { unreachable: TASK_ERROR.upstreamUnreachable, http: TASK_ERROR.upstreamHttp, protocol: TASK_ERROR.upstreamProtocol } as const;

/**
 * What the task machine is told of a failed run (src/protocol/errors.ts). `nothingSent`: none of the task's result
 * reached the hub (a plain call that failed; a stream that failed before its first chunk), so the machine may run it
 * again once the provider has woken its upstream. An upstream's words name the model; its address stays in the log.
 */
function failure(deps: RunDeps, frame: WorkFrame, error: unknown, nothingSent: boolean): TaskFailure {
  if (isTaskFailure(error)) return error;
  if (error instanceof UpstreamError || error instanceof UnsupportedField) {
    logUpstreamFailure(deps, frame, error);
    const message = forCaller(frame, error);
    if (error instanceof UnsupportedField) return { code: TASK_ERROR.unsupportedField, message, nothingSent };
    return { code: UPSTREAM_CODES[error.kind], message, nothingSent, ...(error.kind === 'http' && error.status !== undefined ? { status: error.status } : {}) };
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof TaskGoneError) return { code: TASK_ERROR.gone, message, nothingSent };
  if (error instanceof HubCallError) return { code: TASK_ERROR.hubFailed, message, nothingSent };
  return { code: TASK_ERROR.internal, message, nothingSent };
}

/** An upstream's error as its caller reads it: the model's name and the upstream's words (which carry no address). */
function forCaller(frame: WorkFrame, error: UpstreamError | UnsupportedField): string {
  return `model '${frame.llmName}': ${error.message}`;
}

function logUpstreamFailure(deps: RunDeps, frame: WorkFrame, error: UpstreamError | UnsupportedField): void {
  const err = error instanceof UpstreamError ? (error.detail ?? error.message) : error.message;
  deps.logger.warn({ provider: frame.llmName, taskId: frame.taskId, err }, 'task failed upstream');
}

async function complete(deps: RunDeps, published: PublishedProvider, frame: InferFrame, signal: AbortSignal): Promise<TaskResult> {
  const completion = await published.provider.complete(frame.request, signal).catch((error: unknown) => {
    throw failure(deps, frame, error, true);
  });
  const body = completionEnvelope({
    id: `chatcmpl-${frame.taskId}`,
    // The name the caller asked for, never the upstream's own id (a GGUF path for llama.cpp).
    model: frame.request.model ?? frame.llmName,
    content: completion.content,
    finishReason: completion.finishReason,
    usage: completion.usage,
  });
  return { status: 200, body };
}

/**
 * What streams a task's answer to the hub needs: a way out for each result (one upload to a hub that speaks
 * result.stream, else a POST each), which stops the upstream at once when the hub will not take a chunk (404: the
 * task is gone; or lost past the deadline), not when its next token happens to arrive.
 */
function streamWork(deps: RunDeps, taskId: string, sessionId: string, signal: AbortSignal) {
  const work = new AbortController();
  const stopWork = () => work.abort(signal.reason);
  signal.addEventListener('abort', stopWork, { once: true });
  const upload = deps.hub.capabilities.has(CAPABILITY_RESULT_STREAM) ? new ResultUpload(deps.hub, taskId, sessionId, signal) : undefined;
  const postEach = async (results: TaskResult[]) => {
    for (const result of results) await deps.hub.postResult(taskId, result, { sessionId, signal });
  };
  const send = (results: TaskResult[]) =>
    (upload ? upload.send(results) : postEach(results)).catch((error: unknown) => {
      work.abort(error);
      throw error;
    });
  /** A final result posted on its own, like a plain call's (after `abandon`, or to a hub without result.stream). */
  const post = async (result: TaskResult): Promise<RunTaskOutput> => {
    await deliverResult(deps, { taskId, result, sessionId }, signal);
    return { result };
  };
  return {
    signal: work.signal,
    send,
    /** After a failure: the hub has every line written before it; the error result is posted on its own. */
    abandon: async () => upload?.close(),
    post,
    /** The stream's last result: through the upload, which then ends, or posted on its own. */
    finish: async (done: TaskResult): Promise<RunTaskOutput> => {
      if (!upload) return post(done);
      await upload.finish(done);
      return { result: done };
    },
    done: () => signal.removeEventListener('abort', stopWork),
  };
}

/** `frame` is `input.frame`, narrowed; `input` says when it came and on which session. */
async function stream(deps: RunDeps, published: PublishedProvider, frame: InferFrame, input: RunTaskInput, signal: AbortSignal): Promise<RunTaskOutput> {
  const work = streamWork(deps, frame.taskId, input.sessionId, signal);
  const merge = new TextMerge({ id: `chatcmpl-${frame.taskId}`, model: frame.request.model ?? frame.llmName, created: Math.floor(Date.now() / 1000) });
  const poster = new ResultPoster(work.send, merge, deps.timing.chunkCoalesceMs);
  try {
    let first = deps.observer?.firstToken;
    for await (const piece of published.provider.stream(frame.request, work.signal)) {
      if (first && piece.content) {
        first(frame.llmName, Date.now() - input.receivedAt, frame.taskId);
        first = undefined;
      }
      poster.push(piece);
    }
  } catch (error) {
    await poster.settle();
    await work.abandon();
    // Not one chunk sent (even a failed one): the caller has seen nothing of this run.
    throw failure(deps, frame, error, poster.sends === 0);
  } finally {
    work.done();
  }
  await poster.finish();
  return work.finish({ chunk: { data: DONE, done: true, seq: poster.nextSeq } });
}

function openAiCall(frame: OpenAiFrame): OpenAiCall {
  return { endpoint: frame.endpoint, streaming: frame.streaming, body: frame.body, model: frame.llmName, taskId: frame.taskId };
}

/** The upstream's answer, or its refusal as a result that carries the status and the OpenAI error fields. */
async function openAiAnswer(deps: RunDeps, published: PublishedProvider, frame: OpenAiFrame, signal: AbortSignal): Promise<TaskResult> {
  try {
    return { status: 200, body: await published.provider.openai(openAiCall(frame), signal) };
  } catch (error) {
    const refused = refusal(deps, frame, error);
    if (refused) return refused;
    throw failure(deps, frame, error, true);
  }
}

async function openAiStream(deps: RunDeps, published: PublishedProvider, frame: OpenAiFrame, input: RunTaskInput, signal: AbortSignal): Promise<RunTaskOutput> {
  const call = openAiCall(frame);
  const work = streamWork(deps, frame.taskId, input.sessionId, signal);
  const poster = new ResultPoster(work.send, new PayloadMerge(), deps.timing.chunkCoalesceMs);
  try {
    let first = deps.observer?.firstToken;
    for await (const data of published.provider.openaiStream(call, work.signal)) {
      if (first) {
        first(frame.llmName, Date.now() - input.receivedAt, frame.taskId);
        first = undefined;
      }
      poster.push(data);
      if (deps.observer?.tokens && data.includes('"completion_tokens"')) noteUsage(deps.observer.tokens, frame.taskId, data);
    }
    await poster.finish();
  } catch (error) {
    await poster.settle();
    await work.abandon();
    const refused = poster.sends === 0 ? refusal(deps, frame, error) : undefined;
    // Posted on its own: the upload, if any, ended with the failure.
    if (refused) return work.post(refused);
    throw failure(deps, frame, error, poster.sends === 0);
  } finally {
    work.done();
  }
  return work.finish({ chunk: { data: DONE, done: true, seq: poster.nextSeq } });
}

/** The usage chunk of a stream (`stream_options.include_usage`): its completion tokens, for the status page. */
function noteUsage(tokens: (taskId: string, count: number) => void, taskId: string, data: string): void {
  try {
    const count = (JSON.parse(data) as { usage?: { completion_tokens?: unknown } }).usage?.completion_tokens;
    if (typeof count === 'number') tokens(taskId, count);
  } catch {
    // Not JSON: the hub relays it as it is; there is nothing to count.
  }
}

/**
 * An upstream's refusal (or a field the provider cannot express) before anything was sent, as the result that
 * carries its status and OpenAI error fields to the caller (SPEC.md §5), so a 400 stays a 400.
 */
function refusal(deps: RunDeps, frame: OpenAiFrame, error: unknown): TaskResult | undefined {
  let result: TaskResult | undefined;
  if (error instanceof UnsupportedField) {
    result = { error: forCaller(frame, error), status: 400, type: error.type, code: null, param: error.param };
  } else if (error instanceof UpstreamError && error.kind === 'http' && error.status !== undefined && error.status >= 400 && error.status <= 599) {
    result = { error: forCaller(frame, error), status: error.status, ...error.fields };
  }
  if (result === undefined) return undefined;
  logUpstreamFailure(deps, frame, error as UpstreamError | UnsupportedField);
  return result;
}

export function runInferenceActor(deps: RunDeps) {
  return fromPromise<RunTaskOutput, RunTaskInput>(async ({ input, signal }) => {
    const { frame } = input;
    const deliver = async (result: TaskResult): Promise<RunTaskOutput> => {
      await deliverResult(deps, { taskId: frame.taskId, result, sessionId: input.sessionId }, signal);
      return { result };
    };
    // The provider machine starts a wake task only once the provider is up: the wake is done.
    if (frame.kind === 'wake') return deliver({ status: 200, body: { ok: true, ms: Date.now() - input.receivedAt } });
    const published = deps.providers.get(frame.llmName);
    if (!published) throw failure(deps, frame, new Error(`provider '${frame.llmName}' not registered locally`), true);
    try {
      if (frame.kind === 'openai') {
        return frame.streaming ? await openAiStream(deps, published, frame, input, signal) : await deliver(await openAiAnswer(deps, published, frame, signal));
      }
      return frame.streaming ? await stream(deps, published, frame, input, signal) : await deliver(await complete(deps, published, frame, signal));
    } catch (error) {
      // Past the calls above (the last chunk or the final result did not go): some of the result may have.
      throw failure(deps, frame, error, false);
    }
  });
}
