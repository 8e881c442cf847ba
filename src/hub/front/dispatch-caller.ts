// The hub's ChatCaller: a chat.completions call made for the Anthropic and Responses front doors through the same
// Dispatcher as POST /v1/chat/completions (plan: visibility, health, agents, frame size; run: wake, task, deadline,
// cancel), so a translated call is routed, woken, timed out and cancelled exactly as a chat call is.
import type { CallBody, CallFailure, CallOutcome, Dispatcher } from '../dispatch.ts';
import { completionAsChunk } from '../envelopes.ts';
import type { ChatCaller, ChatCallResult } from './chat-caller.ts';

export interface DispatchCallerOptions {
  dispatcher: Dispatcher;
  /**
   * The longest a streamed call waits for its first chunk before it is handed over as a stream: a call that fails
   * before then (an upstream 400, a registrar gone) gets its status; a wake is covered by the door's keep-alives.
   */
  headWaitMs: number;
}

/** A failure as the doors read it: the dispatcher's status, message and OpenAI error fields. */
function failed(failure: CallFailure): ChatCallResult {
  return { kind: 'error', status: failure.status, message: failure.message, ...(failure.detail ? { detail: failure.detail } : {}) };
}

/** A chunk's data as the object the doors read; data that is not a JSON object says so as an error object. */
function chunkObject(data: string): object {
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // Said below, as the stream's error.
  }
  return { error: { message: 'the model streamed something that is not JSON' } };
}

async function* replay(chunks: object[]): AsyncGenerator<object> {
  yield* chunks;
}

export function dispatchCaller({ dispatcher, headWaitMs }: DispatchCallerOptions): ChatCaller {
  return async ({ viewer, body, signal }) => {
    // A door's body is a chat.completions body with its `model`: what the chat door's envelope check ensures.
    const planned = dispatcher.plan(viewer, 'chat.completions', body as unknown as CallBody);
    if (!planned.ok) return failed(planned);
    const { plan } = planned;

    if (!plan.streaming) {
      const chunks: string[] = [];
      const outcome = await new Promise<CallOutcome>((resolve) => {
        dispatcher.run(plan, { chunk: (data) => chunks.push(data), finish: resolve }, signal);
      });
      if (!outcome.ok) return failed(outcome);
      if (outcome.body) return { kind: 'json', status: 200, body: outcome.body };
      // A base registrar streamed a task that was not streamed: the doors gather its chunks, tool calls included.
      return { kind: 'stream', chunks: replay(chunks.map(chunkObject)) };
    }

    // A stream ends when the caller goes away or when the door stops reading it (an iterator closed early).
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    // Chunks wait here until the door reads them; `wake` is the door's pending read, if any.
    const queue: object[] = [];
    let ended: { ok: true } | { ok: false; message: string } | undefined;
    let wake: (() => void) | undefined;
    const pulse = (): void => {
      const waiting = wake;
      wake = undefined;
      waiting?.();
    };
    let handOver!: (result: ChatCallResult) => void;
    const handed = new Promise<ChatCallResult>((resolve) => (handOver = resolve));
    const chunks = async function* (): AsyncGenerator<object> {
      try {
        for (;;) {
          const next = queue.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          if (ended) {
            if (!ended.ok) throw new Error(ended.message);
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        stop.abort();
      }
    };
    let settled = false;
    const hand = (result: ChatCallResult | 'stream'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(headTimer);
      // Handed over as a stream, the iterator's end lets go of the caller's signal; otherwise it is let go now.
      if (result === 'stream') return handOver({ kind: 'stream', chunks: chunks() });
      signal.removeEventListener('abort', onAbort);
      handOver(result);
    };
    const headTimer = setTimeout(() => hand('stream'), headWaitMs);

    dispatcher.run(
      plan,
      {
        chunk: (data) => {
          queue.push(chunkObject(data));
          hand('stream');
          pulse();
        },
        finish: (outcome) => {
          ended = outcome.ok ? { ok: true } : { ok: false, message: outcome.message };
          // Nothing said yet: the door answers with the status (or, from a base registrar, the whole completion);
          // said already, the stream's reader hears how it ended.
          if (!outcome.ok) hand(failed(outcome));
          else if (!outcome.body) hand('stream');
          else if (!settled) hand({ kind: 'json', status: 200, body: outcome.body });
          else queue.push(chunkObject(completionAsChunk(outcome.body, plan.model)));
          pulse();
        },
      },
      stop.signal,
    );
    return handed;
  };
}
