// The plumbing every HTTP upstream shares: one request per call that honours the caller's abort signal, a watchdog
// for upstream silence, errors mapped to UpstreamError, and a body read chunk by chunk without extra copies.
import http from 'node:http';
import https from 'node:https';
import type { ProviderConfig } from '../config/schema.ts';
import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';
import type { ChatMessage, Usage } from '../protocol/index.ts';
import { describeNetworkError } from '../network-error.ts';
import { redactUrl } from '../redact.ts';
import { type ErrorFields, type StreamPiece, UpstreamError } from './types.ts';

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
/**
 * Chat calls go through node:http on keep-alive sockets rather than fetch: fetch (undici with web streams) cost
 * about 200 µs more CPU per call, which at a thousand tasks a second was a fifth of the registrar's core.
 * The agents honour the server's Keep-Alive timeout hint, so an idle socket is not reused just as the server drops it.
 */
const upstreamAgents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

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

  /** A chat call answered in one JSON body (`path` under the base URL); an `error` in it is the upstream's failure. */
  protected async postForAnswer<T extends { error?: unknown }>(path: string, body: string, signal: AbortSignal): Promise<T> {
    const call = new UpstreamCall(`${this.baseUrl}${path}`, signal, this.idleMs);
    let clean = false;
    try {
      await call.open({ method: 'POST', headers: this.headers, body });
      const answer = parseJson(await call.readAll(), 'an answer') as T;
      clean = true;
      if (answer.error !== undefined) throw new UpstreamError('protocol', upstreamErrorMessage(answer.error) ?? 'upstream reported an error');
      return answer;
    } finally {
      call.release(clean);
    }
  }
}

/**
 * One HTTP call to an upstream. `open()` sends it and refuses non-2xx answers, `read()` hands out the body as text,
 * `release(clean)` frees it: after a clean end the rest of the body is drained in the background so the keep-alive
 * connection goes back to the pool, otherwise the request is aborted (the upstream stops generating).
 */
export class UpstreamCall {
  private readonly controller = new AbortController();
  private readonly idleTimer: NodeJS.Timeout;
  private response: http.IncomingMessage | undefined;
  /** Body text received and not read yet; the response is paused while it is not empty. */
  private received: string[] = [];
  private receivedEnd = false;
  private receivedError: unknown;
  private wakeReader: (() => void) | undefined;
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
    let response: http.IncomingMessage;
    this.waiting = true;
    this.idleTimer.refresh();
    try {
      response = await this.send(init);
    } catch (error) {
      throw this.failure(error, 'connect');
    } finally {
      this.waiting = false;
    }
    this.response = response;
    response.setEncoding('utf8');
    response.on('data', (text: string) => {
      this.received.push(text);
      response.pause();
      this.wakeReader?.();
    });
    response.on('end', () => {
      this.receivedEnd = true;
      this.wakeReader?.();
    });
    response.on('error', (error) => {
      this.receivedError ??= error;
      this.wakeReader?.();
    });
    response.on('close', () => {
      if (!this.receivedEnd) this.receivedError ??= new Error('other side closed');
      this.wakeReader?.();
    });
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const said = errorExcerpt(await this.readUpTo(ERROR_BODY_READ_CHARS));
      this.signal.throwIfAborted();
      throw new UpstreamError('http', `upstream answered ${status}: ${said.message || (response.statusMessage ?? '')}`, status, said.fields);
    }
  }

  private send(init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<http.IncomingMessage> {
    const secure = this.url.startsWith('https:');
    const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
    return new Promise((resolve, reject) => {
      const request = (secure ? https : http).request(
        this.url,
        { method: init.method, headers, agent: secure ? upstreamAgents.https : upstreamAgents.http, signal: this.controller.signal },
        resolve,
      );
      request.on('error', reject);
      request.end(init.body);
    });
  }

  /** The next piece of the body as text, or undefined at its end. */
  async read(): Promise<string | undefined> {
    if (this.response === undefined || this.bodyEnded) return undefined;
    this.waiting = true;
    this.idleTimer.refresh();
    try {
      for (;;) {
        if (this.received.length > 0) {
          const text = this.received.length === 1 ? this.received[0] : this.received.join('');
          this.received = [];
          return text;
        }
        if (this.receivedError !== undefined) throw this.receivedError;
        if (this.receivedEnd) {
          this.bodyEnded = true;
          return undefined;
        }
        this.response.resume();
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
        this.wakeReader = undefined;
      }
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
    if (this.bodyEnded || this.response === undefined) return;
    if (clean) {
      drain(this.response, this.controller);
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

  /** What to throw for an error of the request or of the body: the caller's abort reason first, then our own verdicts. */
  private failure(error: unknown, phase: 'connect' | 'read'): unknown {
    if (this.signal.aborted) return this.signal.reason;
    if (this.wentSilent) return this.silenceError();
    if (error instanceof UpstreamError) return error;
    // The caller reads the message: the address stays in the detail, for the registrar's log.
    const { phrase, code } = describeNetworkError(error);
    return new UpstreamError(
      'unreachable',
      phase === 'connect' ? `cannot reach the model server (${code})` : `connection to the model server lost mid-answer (${code})`,
      undefined,
      {},
      phase === 'connect' ? `cannot reach ${redactUrl(this.url)}: ${phrase}` : `connection to ${redactUrl(this.url)} lost mid-answer: ${phrase}`,
    );
  }
}

function drain(response: http.IncomingMessage, controller: AbortController): void {
  if (response.complete) return;
  const deadline = setTimeout(() => controller.abort(new Error('upstream kept the answer open after its end')), DRAIN_GRACE_MS);
  deadline.unref();
  // Nothing depends on the rest of a finished answer: its text is dropped, its end frees the socket.
  response.removeAllListeners('data');
  response.on('close', () => clearTimeout(deadline));
  response.resume();
}

/**
 * The useful part of an error body: the message of an `{error: …}` JSON when there is one (OpenAI's, Ollama's and
 * Anthropic's shapes), else the text itself; and the OpenAI-shaped fields the caller's SDK reads.
 */
export function errorExcerpt(body: string): { message: string; fields: ErrorFields } {
  let text = body.trim();
  let fields: ErrorFields = {};
  if (text.startsWith('{')) {
    try {
      const error = (JSON.parse(text) as { error?: unknown }).error;
      const message = upstreamErrorMessage(error);
      if (message !== undefined) text = message;
      fields = errorFieldsOf(error);
    } catch {
      // Not JSON after all: show the text.
    }
  }
  text = text.replace(/\s+/g, ' ');
  return { message: text.length > ERROR_EXCERPT_CHARS ? `${text.slice(0, ERROR_EXCERPT_CHARS)}…` : text, fields };
}

const MAX_FIELD_CHARS = 200;
const shortString = (value: unknown): string | undefined => (typeof value === 'string' && value.length <= MAX_FIELD_CHARS ? value : undefined);

/** `type`, `code` and `param` of an error object; a numeric code (vLLM sends the status) becomes its text. */
export function errorFieldsOf(error: unknown): ErrorFields {
  if (typeof error !== 'object' || error === null) return {};
  const { type, code, param } = error as Record<string, unknown>;
  const fields: ErrorFields = {};
  const typeText = shortString(type);
  if (typeText !== undefined) fields.type = typeText;
  const codeText = typeof code === 'number' ? String(code) : shortString(code);
  if (codeText !== undefined) fields.code = codeText;
  else if (code === null) fields.code = null;
  const paramText = shortString(param);
  if (paramText !== undefined) fields.param = paramText;
  else if (param === null) fields.param = null;
  return fields;
}

/** The message inside an upstream's `error` value: a string, or an object with `message`. */
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
