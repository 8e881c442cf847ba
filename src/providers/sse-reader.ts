// An upstream's SSE body fed to a provider's reader of its events, yielding what they said as they parse.
import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';
import type { StreamPiece, UpstreamError } from './types.ts';
import type { UpstreamCall } from './upstream-call.ts';

/** Largest SSE event a provider buffers: far above any real chunk, low enough that a runaway upstream cannot eat memory. */
export const MAX_EVENT_CHARS = 16 * 1024 * 1024;

/** A provider's reader of its upstream's SSE events: what they said so far, and whether the answer is over. */
export interface SseReader<T = StreamPiece> {
  /** Pieces parsed and not yet handed on. */
  readonly pending: T[];
  /** Set when the upstream sent something that ends the stream in error. */
  readonly failure: UpstreamError | undefined;
  /** The upstream said the answer is complete (`[DONE]`, `message_stop`): nothing more is read. */
  readonly ended: boolean;
  readonly onEvent: (event: EventSourceMessage) => void;
  readonly onError: (error: ParseError) => void;
}

/** Feeds an opened call's SSE body to `reader`, yielding its pieces as they parse, until the answer or the body ends. */
export async function* sseStream<T>(call: UpstreamCall, reader: SseReader<T>): AsyncGenerator<T, void, undefined> {
  const parser = createParser({ onEvent: reader.onEvent, onError: reader.onError, maxBufferSize: MAX_EVENT_CHARS });
  const pending = reader.pending;
  for (let text = await call.read(); text !== undefined; text = await call.read()) {
    parser.feed(text);
    for (let i = 0; i < pending.length; i++) yield pending[i];
    pending.length = 0;
    if (reader.failure !== undefined) throw reader.failure;
    if (reader.ended) return;
  }
}
