// What every upstream kind offers the registrar: readiness, a completion, a token stream, and the full-fidelity
// OpenAI calls of SPEC.md §5 (passed through or translated to the upstream's native API).
import type { InferRequest, OpenAiEndpoint, Usage } from '../protocol/index.ts';

export interface Completion {
  content: string;
  finishReason: string | null;
  usage: Usage;
}

/** One step of a token stream: text, and on the last step why it ended and what it cost. */
export interface StreamPiece {
  content?: string;
  finishReason?: string | null;
  usage?: Usage;
}

/** An `openai` frame's call as a provider runs it. */
export interface OpenAiCall {
  endpoint: OpenAiEndpoint;
  streaming: boolean;
  /** The caller's JSON as sent. */
  body: Record<string, unknown>;
  /** The name the caller asked for: every answer's `model` says this, never the upstream's own id. */
  model: string;
  /** For the ids of answers a translating provider builds (`chatcmpl-<taskId>`). */
  taskId: string;
}

export interface LlmProvider {
  readonly name: string;
  readonly type: string;
  readonly model: string;
  /** True when the upstream answers its readiness check; never throws. */
  isAvailable(signal?: AbortSignal): Promise<boolean>;
  complete(request: InferRequest, signal: AbortSignal): Promise<Completion>;
  stream(request: InferRequest, signal: AbortSignal): AsyncIterable<StreamPiece>;
  /** A non-streaming OpenAI call: the answer's JSON, in OpenAI's shape. */
  openai(call: OpenAiCall, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** A streaming OpenAI call: each SSE `data` payload in OpenAI's shape, without the closing `[DONE]`. */
  openaiStream(call: OpenAiCall, signal: AbortSignal): AsyncIterable<string>;
}

/** The OpenAI-shaped fields of an upstream's HTTP error, so the caller gets the same status and error. */
export interface ErrorFields {
  type?: string;
  code?: string | null;
  param?: string | null;
}

/**
 * Why an upstream call failed. `unreachable`: no answer at all (refused, reset, timeout); `http`: a non-2xx answer;
 * `protocol`: an answer we could not read, or an error reported inside a 200 stream. `message` is what a caller may
 * read (no URL, host or path); `detail`, when set, is for the registrar's log only.
 */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'http' | 'protocol',
    message: string,
    readonly status?: number,
    readonly fields: ErrorFields = {},
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/**
 * A field of the caller's request this provider cannot express: refused with 400 naming it, never dropped (a
 * dropped `tools` or `response_format` changes the answer without anyone knowing).
 */
export class UnsupportedField extends Error {
  readonly status = 400;
  readonly type = 'invalid_request_error';
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
    this.name = 'UnsupportedField';
  }
}
