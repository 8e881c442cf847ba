// The plumbing every HTTP upstream shares: one fetch per call that honours the caller's abort signal, a watchdog
// for upstream silence, errors mapped to UpstreamError, and a body read chunk by chunk without extra copies.
import type { ProviderConfig } from '../config/schema.ts';
import type { ChatMessage, Usage } from '../protocol/index.ts';
import { UpstreamError } from './types.ts';

export interface ProviderOptions {
  /** No byte from the upstream for this long (waiting for headers or mid-body) fails the call. Default 300 000. */
  upstreamIdleMs?: number;
  /** How long a readiness check may take before it counts as "not available". Default 5 000. */
  readinessTimeoutMs?: number;
}

export const DEFAULT_UPSTREAM_IDLE_MS = 300_000;
export const DEFAULT_READINESS_TIMEOUT_MS = 5_000;

/** After a clean end of answer, how long the rest of the body may take to arrive so the connection can be reused. */
const DRAIN_GRACE_MS = 1_000;
/** How much of an error body we read, and how much of it goes into a message. */
const ERROR_BODY_READ_CHARS = 8_192;
const ERROR_EXCERPT_CHARS = 300;
const DECODE_STREAM: TextDecodeOptions = { stream: true };

function requireBaseUrl(config: ProviderConfig): string {
  if (config.baseUrl === undefined) {
    throw new Error(`provider '${config.name}': baseUrl is required for type '${config.type}'`);
  }
  return config.baseUrl.replace(/\/+$/, '');
}

/** What every provider that speaks HTTP to its upstream holds: where it is, how to authenticate, how long to wait. */
export abstract class HttpProvider {
  readonly name: string;
  readonly model: string;
  protected readonly baseUrl: string;
  /** Headers of a chat call: the readiness headers plus the JSON content type. */
  protected readonly headers: Record<string, string>;
  protected readonly readinessHeaders: Record<string, string>;
  protected readonly idleMs: number;
  protected readonly readinessTimeoutMs: number;

  constructor(config: ProviderConfig, options: ProviderOptions, authHeaders: Record<string, string>) {
    this.name = config.name;
    this.model = config.model;
    this.baseUrl = requireBaseUrl(config);
    this.readinessHeaders = authHeaders;
    this.headers = { 'content-type': 'application/json', ...authHeaders };
    this.idleMs = options.upstreamIdleMs ?? DEFAULT_UPSTREAM_IDLE_MS;
    this.readinessTimeoutMs = options.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  }
}

/**
 * One HTTP call to an upstream. `open()` sends it and refuses non-2xx answers, `read()` hands out the body as text,
 * `release(clean)` frees it: after a clean end the rest of the body is drained in the background so the keep-alive
 * connection goes back to the pool, otherwise the request is aborted (the upstream stops generating).
 */
export class UpstreamCall {
  private readonly controller = new AbortController();
  private readonly decoder = new TextDecoder();
  private readonly idleTimer: NodeJS.Timeout;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** True while we wait on the upstream (headers or the next body chunk): only then does silence count. */
  private waiting = false;
  private wentSilent = false;
  private bodyEnded = false;
  private released = false;

  constructor(
    readonly url: string,
    private readonly signal: AbortSignal,
    private readonly idleMs: number,
  ) {
    signal.throwIfAborted();
    signal.addEventListener('abort', this.onCallerAbort, { once: true });
    this.idleTimer = setTimeout(this.onIdle, idleMs);
    this.idleTimer.unref();
  }

  async open(init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<void> {
    let response: Response;
    this.waiting = true;
    this.idleTimer.refresh();
    try {
      response = await fetch(this.url, { ...init, signal: this.controller.signal });
    } catch (error) {
      throw this.failure(error, 'connect');
    } finally {
      this.waiting = false;
    }
    if (response.body === null) {
      this.bodyEnded = true;
    } else {
      this.reader = response.body.getReader();
    }
    if (!response.ok) {
      const excerpt = errorExcerpt(await this.readUpTo(ERROR_BODY_READ_CHARS)) || response.statusText;
      this.signal.throwIfAborted();
      throw new UpstreamError('http', `upstream answered ${response.status}: ${excerpt}`, response.status);
    }
  }

  /** The next piece of the body as text, or undefined at its end. */
  async read(): Promise<string | undefined> {
    if (this.reader === undefined || this.bodyEnded) return undefined;
    this.waiting = true;
    this.idleTimer.refresh();
    try {
      const { done, value } = await this.reader.read();
      if (done) {
        this.bodyEnded = true;
        return undefined;
      }
      return this.decoder.decode(value, DECODE_STREAM);
    } catch (error) {
      throw this.failure(error, 'read');
    } finally {
      this.waiting = false;
    }
  }

  /** The whole body as text. */
  async readAll(): Promise<string> {
    let text = '';
    for (let piece = await this.read(); piece !== undefined; piece = await this.read()) text += piece;
    return text;
  }

  release(clean: boolean): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.idleTimer);
    this.signal.removeEventListener('abort', this.onCallerAbort);
    if (this.bodyEnded || this.reader === undefined) return;
    if (clean) {
      drain(this.reader, this.controller);
    } else {
      this.controller.abort(new Error('upstream call released before the end of its answer'));
    }
  }

  private async readUpTo(maxChars: number): Promise<string> {
    let text = '';
    try {
      for (let piece = await this.read(); piece !== undefined && text.length < maxChars; piece = await this.read()) text += piece;
    } catch {
      // The status already says what went wrong; a broken error body must not hide it.
    }
    return text;
  }

  private readonly onCallerAbort = (): void => {
    this.controller.abort(this.signal.reason);
  };

  private readonly onIdle = (): void => {
    if (!this.waiting) return; // the consumer holds us: silence is not the upstream's
    this.wentSilent = true;
    this.controller.abort(this.silenceError());
  };

  private silenceError(): UpstreamError {
    return new UpstreamError('unreachable', `upstream went silent for ${this.idleMs} ms`);
  }

  /** What to throw for an error of fetch or of the body: the caller's abort reason first, then our own verdicts. */
  private failure(error: unknown, phase: 'connect' | 'read'): unknown {
    if (this.signal.aborted) return this.signal.reason;
    if (this.wentSilent) return this.silenceError();
    if (error instanceof UpstreamError) return error;
    const detail = describeNetworkError(error);
    return new UpstreamError(
      'unreachable',
      phase === 'connect' ? `cannot reach ${this.url}: ${detail}` : `connection to ${this.url} lost mid-answer: ${detail}`,
    );
  }
}

function drain(reader: ReadableStreamDefaultReader<Uint8Array>, controller: AbortController): void {
  const deadline = setTimeout(() => controller.abort(new Error('upstream kept the answer open after its end')), DRAIN_GRACE_MS);
  deadline.unref();
  void (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      // Nothing depends on the rest of a finished answer.
    } finally {
      clearTimeout(deadline);
    }
  })();
}

/** A network error of undici as a short phrase: `connect ECONNREFUSED 127.0.0.1:8000`, `other side closed`. */
function describeNetworkError(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const cause: unknown = current.cause;
    if (!(cause instanceof Error)) break;
    current = cause;
  }
  if (!(current instanceof Error)) return String(current);
  const code = (current as { code?: unknown }).code;
  if (current.message !== '') return current.message;
  return typeof code === 'string' ? code : current.name;
}

/** The useful part of an error body: the message of an `{error: …}` JSON when there is one, else the text itself. */
function errorExcerpt(body: string): string {
  let text = body.trim();
  if (text.startsWith('{')) {
    try {
      const message = upstreamErrorMessage((JSON.parse(text) as { error?: unknown }).error);
      if (message !== undefined) text = message;
    } catch {
      // Not JSON after all: show the text.
    }
  }
  text = text.replace(/\s+/g, ' ');
  return text.length > ERROR_EXCERPT_CHARS ? `${text.slice(0, ERROR_EXCERPT_CHARS)}…` : text;
}

/** The message inside an upstream's `error` value: a string, or an object with `message`. */
export function upstreamErrorMessage(error: unknown): string | undefined {
  if (typeof error === 'string' && error !== '') return error;
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') return message;
    return JSON.stringify(error);
  }
  return undefined;
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new UpstreamError('protocol', `upstream sent ${what} that is not JSON: ${JSON.stringify(excerpt)}`);
  }
}

export function streamEndedEarly(): UpstreamError {
  return new UpstreamError('protocol', 'stream ended early');
}

/**
 * A token count for an upstream that reports none: about four characters a token, the usual rule of thumb for
 * English text with BPE tokenizers. An estimate, never presented as a measurement anywhere else.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let chars = 0;
  for (const message of messages) chars += message.content.length;
  return Math.ceil(chars / 4);
}

export function usageOf(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** A readiness check: a GET that must answer 2xx within the timeout; any failure means "not available". */
export async function answersOk(url: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const onAbort = (): void => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
