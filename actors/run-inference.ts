// Run one task on its provider: a completion, or a token stream relayed as chunks as the tokens arrive.
import { fromPromise } from 'xstate';
import type { RunTaskFailure, RunTaskInput, RunTaskOutput } from '../machines/task.ts';
import { CAPABILITY_RESULT_STREAM, completionEnvelope, DONE, type InferFrame, type TaskResult } from '../src/protocol/index.ts';
import { ChunkPoster } from './chunk-poster.ts';
import { ResultUpload } from './result-upload.ts';
import type { ActorDeps, PublishedProvider } from './deps.ts';

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
    model: frame.request.model ?? published.config.model,
    content: completion.content,
    finishReason: completion.finishReason,
    usage: completion.usage,
  });
  return { result: { status: 200, body } };
}

async function stream(deps: ActorDeps, published: PublishedProvider, frame: InferFrame, receivedAt: number, signal: AbortSignal): Promise<RunTaskOutput> {
  // A chunk the hub will not take (404: the task is gone; or lost past the deadline) stops the upstream at once,
  // not when its next token happens to arrive.
  const work = new AbortController();
  const stopWork = () => work.abort(signal.reason);
  signal.addEventListener('abort', stopWork, { once: true });
  // To a hub that speaks result.stream, every chunk and the final result go in one upload; else a POST each.
  const upload = deps.hub.capabilities.has(CAPABILITY_RESULT_STREAM) ? new ResultUpload(deps.hub, frame.taskId, signal) : undefined;
  const post = (result: TaskResult) =>
    (upload ? upload.send(result) : deps.hub.postResult(frame.taskId, result, signal)).catch((error: unknown) => {
      work.abort(error);
      throw error;
    });
  const poster = new ChunkPoster(
    post,
    { id: `chatcmpl-${frame.taskId}`, model: frame.request.model ?? published.config.model, created: Math.floor(Date.now() / 1000) },
    deps.timing.chunkCoalesceMs,
  );
  try {
    let first = deps.observer?.firstToken;
    for await (const piece of published.provider.stream(frame.request, work.signal)) {
      if (first && piece.content) {
        first(frame.llmName, Date.now() - receivedAt);
        first = undefined;
      }
      poster.push(piece);
    }
  } catch (error) {
    await poster.settle();
    // Its error result is posted on its own, after the hub has every token sent before it.
    await upload?.close();
    // Not one chunk POST (even a failed one): the caller has seen nothing of this run.
    throw poster.posts === 0 ? nothingSent(error) : error;
  } finally {
    signal.removeEventListener('abort', stopWork);
  }
  await poster.finish();
  const done: TaskResult = { chunk: { data: DONE, done: true, seq: poster.nextSeq } };
  if (!upload) return { result: done };
  await upload.finish(done);
  return { result: done, delivered: true };
}

export function runInferenceActor(deps: ActorDeps) {
  return fromPromise<RunTaskOutput, RunTaskInput>(async ({ input, signal }) => {
    const { frame } = input;
    if (frame.kind === 'wake') {
      // The provider machine starts a wake task only once the provider is up: the wake is done.
      return { result: { status: 200, body: { ok: true, ms: Date.now() - input.receivedAt } } };
    }
    const published = deps.providers.get(frame.llmName);
    if (!published) throw new Error(`provider '${frame.llmName}' not registered locally`);
    // Issue 10 (openai frames): until the providers speak them, such a frame is refused, never run narrowed.
    if (frame.kind === 'openai') throw new Error(`provider '${frame.llmName}' cannot run openai frames yet`);
    return frame.streaming ? stream(deps, published, frame, input.receivedAt, signal) : complete(published, frame, signal);
  });
}
