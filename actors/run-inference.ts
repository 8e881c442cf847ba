// Run one task on its provider: a completion, or a token stream relayed as chunks as the tokens arrive; for an
// `openai` frame (SPEC.md §5), the caller's call as sent and the upstream's answer as said, payload by payload.
import { fromPromise } from 'xstate';
import type { RunTaskFailure, RunTaskInput, RunTaskOutput } from '../machines/task.ts';
import { CAPABILITY_RESULT_STREAM, completionEnvelope, DONE, type InferFrame, type OpenAiFrame, type TaskResult } from '../src/protocol/index.ts';
import { UnsupportedField, UpstreamError, type OpenAiCall } from '../src/providers/types.ts';
import type { ActorDeps, PublishedProvider } from './deps.ts';
import { PayloadMerge, ResultPoster, TextMerge } from './result-poster.ts';
import { ResultUpload } from './result-upload.ts';

type RunDeps = Pick<ActorDeps, 'hub' | 'providers' | 'timing' | 'logger' | 'observer'>;

/**
 * Marks the error of a run none of whose result reached the hub (RunTaskFailure): the task machine may run it again
 * (once the provider has woken its upstream) without losing or doubling text.
 */
function nothingSent(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) (error as RunTaskFailure).nothingSent = true;
  return error;
}

async function complete(published: PublishedProvider, frame: InferFrame, signal: AbortSignal): Promise<RunTaskOutput> {
  const completion = await published.provider.complete(frame.request, signal).catch((error: unknown) => {
    throw nothingSent(error);
  });
  const body = completionEnvelope({
    id: `chatcmpl-${frame.taskId}`,
    // The name the caller asked for, never the upstream's own id (a GGUF path for llama.cpp).
    model: frame.request.model ?? frame.llmName,
    content: completion.content,
    finishReason: completion.finishReason,
    usage: completion.usage,
  });
  return { result: { status: 200, body } };
}

/**
 * What streams a task's answer to the hub needs: a way out for each result (one upload to a hub that speaks
 * result.stream, else a POST each), which stops the upstream at once when the hub will not take a chunk (404: the
 * task is gone; or lost past the deadline), not when its next token happens to arrive.
 */
function streamWork(deps: RunDeps, taskId: string, signal: AbortSignal) {
  const work = new AbortController();
  const stopWork = () => work.abort(signal.reason);
  signal.addEventListener('abort', stopWork, { once: true });
  const upload = deps.hub.capabilities.has(CAPABILITY_RESULT_STREAM) ? new ResultUpload(deps.hub, taskId, signal) : undefined;
  const postEach = async (results: TaskResult[]) => {
    for (const result of results) await deps.hub.postResult(taskId, result, signal);
  };
  const send = (results: TaskResult[]) =>
    (upload ? upload.send(results) : postEach(results)).catch((error: unknown) => {
      work.abort(error);
      throw error;
    });
  return {
    signal: work.signal,
    send,
    /** After a failure: the hub has every line written before it; the error result is posted on its own. */
    abandon: async () => upload?.close(),
    /** The stream's last result: through the upload, which then ends (delivered), or for the task to post. */
    finish: async (done: TaskResult): Promise<RunTaskOutput> => {
      if (!upload) return { result: done };
      await upload.finish(done);
      return { result: done, delivered: true };
    },
    done: () => signal.removeEventListener('abort', stopWork),
  };
}

async function stream(deps: RunDeps, published: PublishedProvider, frame: InferFrame, receivedAt: number, signal: AbortSignal): Promise<RunTaskOutput> {
  const work = streamWork(deps, frame.taskId, signal);
  const merge = new TextMerge({ id: `chatcmpl-${frame.taskId}`, model: frame.request.model ?? frame.llmName, created: Math.floor(Date.now() / 1000) });
  const poster = new ResultPoster(work.send, merge, deps.timing.chunkCoalesceMs);
  try {
    let first = deps.observer?.firstToken;
    for await (const piece of published.provider.stream(frame.request, work.signal)) {
      if (first && piece.content) {
        first(frame.llmName, Date.now() - receivedAt, frame.taskId);
        first = undefined;
      }
      poster.push(piece);
    }
  } catch (error) {
    await poster.settle();
    await work.abandon();
    // Not one chunk sent (even a failed one): the caller has seen nothing of this run.
    throw poster.sends === 0 ? nothingSent(error) : error;
  } finally {
    work.done();
  }
  await poster.finish();
  return work.finish({ chunk: { data: DONE, done: true, seq: poster.nextSeq } });
}

async function openAi(deps: RunDeps, published: PublishedProvider, frame: OpenAiFrame, receivedAt: number, signal: AbortSignal): Promise<RunTaskOutput> {
  const call: OpenAiCall = { endpoint: frame.endpoint, streaming: frame.streaming, body: frame.body, model: frame.llmName, taskId: frame.taskId };
  if (!frame.streaming) {
    const body = await published.provider.openai(call, signal).catch((error: unknown) => {
      throw nothingSent(error);
    });
    return { result: { status: 200, body } };
  }
  const work = streamWork(deps, frame.taskId, signal);
  const poster = new ResultPoster(work.send, new PayloadMerge(), deps.timing.chunkCoalesceMs);
  try {
    let first = deps.observer?.firstToken;
    for await (const data of published.provider.openaiStream(call, work.signal)) {
      if (first) {
        first(frame.llmName, Date.now() - receivedAt, frame.taskId);
        first = undefined;
      }
      poster.push(data);
      if (deps.observer?.tokens && data.includes('"completion_tokens"')) noteUsage(deps.observer.tokens, frame.taskId, data);
    }
    await poster.finish();
  } catch (error) {
    await poster.settle();
    await work.abandon();
    throw poster.sends === 0 ? nothingSent(error) : error;
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
 * An upstream's refusal (or a field the provider cannot express) before anything was streamed, as the result that
 * carries its status and OpenAI error fields to the caller (SPEC.md §5), so a 400 stays a 400.
 */
function refusalResult(frame: OpenAiFrame, error: unknown): TaskResult | undefined {
  if (error instanceof UnsupportedField) {
    return { error: `model '${frame.llmName}': ${error.message}`, status: 400, type: error.type, code: null, param: error.param };
  }
  if (error instanceof UpstreamError && error.kind === 'http' && error.status !== undefined && error.status >= 400 && error.status <= 599) {
    return { error: `model '${frame.llmName}': ${error.message}`, status: error.status, ...error.fields };
  }
  return undefined;
}

export function runInferenceActor(deps: RunDeps) {
  return fromPromise<RunTaskOutput, RunTaskInput>(async ({ input, signal }) => {
    const { frame } = input;
    if (frame.kind === 'wake') {
      // The provider machine starts a wake task only once the provider is up: the wake is done.
      return { result: { status: 200, body: { ok: true, ms: Date.now() - input.receivedAt } } };
    }
    const published = deps.providers.get(frame.llmName);
    if (!published) throw new Error(`provider '${frame.llmName}' not registered locally`);
    try {
      if (frame.kind === 'openai') return await openAi(deps, published, frame, input.receivedAt, signal);
      return frame.streaming ? await stream(deps, published, frame, input.receivedAt, signal) : await complete(published, frame, signal);
    } catch (error) {
      if (!(error instanceof UpstreamError || error instanceof UnsupportedField)) throw error;
      // The caller reads the message: it names the model; the upstream's address stays in the registrar's log.
      deps.logger.warn({ provider: frame.llmName, taskId: frame.taskId, err: error instanceof UpstreamError ? (error.detail ?? error.message) : error.message }, 'task failed upstream');
      const refused = frame.kind === 'openai' ? refusalResult(frame, error) : undefined;
      if (refused !== undefined && (error as RunTaskFailure).nothingSent === true) return { result: refused };
      error.message = `model '${frame.llmName}': ${error.message}`;
      throw error;
    }
  });
}
