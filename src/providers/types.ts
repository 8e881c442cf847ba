// What every upstream kind offers the registrar: readiness, a completion, a token stream.
import type { InferRequest, Usage } from '../protocol/index.ts';

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

export interface LlmProvider {
  readonly name: string;
  readonly type: string;
  readonly model: string;
  /** True when the upstream answers its readiness check; never throws. */
  isAvailable(signal?: AbortSignal): Promise<boolean>;
  complete(request: InferRequest, signal: AbortSignal): Promise<Completion>;
  stream(request: InferRequest, signal: AbortSignal): AsyncIterable<StreamPiece>;
}

/**
 * Why an upstream call failed. `unreachable`: no answer at all (refused, reset, timeout); `http`: a non-2xx answer;
 * `protocol`: an answer we could not read, or an error reported inside a 200 stream.
 */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'http' | 'protocol',
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}
