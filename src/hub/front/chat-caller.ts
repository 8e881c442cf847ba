// The one dependency of the Anthropic and Responses front doors: a chat.completions call made on a caller's behalf.
// The hub implements it over its dispatcher; the tests over an OpenAI-compatible server on loopback.
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { ErrorDetail } from '../errors.ts';
import type { Viewer } from '../registry.ts';

/** A chat.completions body as the front doors build it; `top_k` is the one server-specific field they add. */
export type ChatBody = ChatCompletionCreateParams & { top_k?: number };

export type ChatCallResult =
  /** A whole `chat.completion` (status 200), as the upstream answered it. */
  | { kind: 'json'; status: number; body: unknown }
  /**
   * A streamed call, resolved as soon as the call is accepted (before the first token: a wake can take a minute).
   * `chunks` yields each `chat.completion.chunk` object, the usage chunk included; a failure after the call was
   * accepted is thrown by the iterator or yielded as an `{ error: { message } }` object.
   */
  | { kind: 'stream'; chunks: AsyncIterable<object> }
  /**
   * The call failed before anything was answered: unknown model (404), no healthy member (503), an upstream 400…;
   * `detail` holds OpenAI's error fields when the dispatcher or the upstream named them (`param: model`).
   */
  | { kind: 'error'; status: number; message: string; detail?: ErrorDetail };

/** `signal` aborts when the caller goes away: the call is cancelled, nothing more is read. */
export type ChatCaller = (args: { viewer: Viewer; body: ChatBody; signal: AbortSignal }) => Promise<ChatCallResult>;
