// One HTTP call to an upstream: it honours the caller's abort signal, a watchdog for upstream silence, errors mapped to
// UpstreamError, a body read chunk by chunk without extra copies, and the socket back to the keep-alive pool after.
import http from 'node:http';
import https from 'node:https';
import { describeNetworkError } from '../network-error.ts';
import { redactUrl } from '../redact.ts';
import { UpstreamError } from './types.ts';
import { errorExcerpt } from './upstream-errors.ts';

/** After a clean end of answer, how long the rest of the body may take to arrive so the connection can be reused. */
const DRAIN_GRACE_MS = 1_000;
/** How much of an error body we read. */
const ERROR_BODY_READ_CHARS = 8_192;
/**
 * Body text held for a reader that is behind before the response is paused. Pausing at every chunk (a token, for a
 * stream) cost a pause and a resume per token; the bound keeps backpressure for a consumer that cannot keep up.
 */
const MAX_UNREAD_CHARS = 64 * 1024;
/**
 * Chat calls go through node:http on keep-alive sockets rather than fetch: fetch (undici with web streams) cost
 * about 200 µs more CPU per call, which at a thousand tasks a second was a fifth of the registrar's core.
 * The agents honour the server's Keep-Alive timeout hint, so an idle socket is not reused just as the server drops it.
 */
const upstreamAgents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

interface Target {
  secure: boolean;
  options: http.RequestOptions;
}
/** Each upstream URL parsed once (a provider calls a handful of them), not once per call. */
const targets = new Map<string, Target>();
const TARGETS_KEPT = 256;

function targetOf(url: string): Target {
  let target = targets.get(url);
  if (target === undefined) {
    const parsed = new URL(url);
    const secure = parsed.protocol === 'https:';
    target = {
      secure,
      options: {
        protocol: parsed.protocol,
        hostname: parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname,
        port: parsed.port === '' ? undefined : Number(parsed.port),
        path: `${parsed.pathname}${parsed.search}`,
        ...(parsed.username || parsed.password ? { auth: `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}` } : {}),
        agent: secure ? upstreamAgents.https : upstreamAgents.http,
      },
    };
    if (targets.size >= TARGETS_KEPT) targets.clear();
    targets.set(url, target);
  }
  return target;
}

/**
 * One HTTP call to an upstream. `open()` sends it and refuses non-2xx answers, `read()` hands out the body as text,
 * `release(clean)` frees it: after a clean end the rest of the body is drained in the background so the keep-alive
 * connection goes back to the pool, otherwise the request is aborted (the upstream stops generating).
 */
export class UpstreamCall {
  /**
   * The request under way, destroyed on abort (the caller's, our silence watchdog's, a release): no AbortController
   * and abort listener of our own per call beside the caller's signal.
   */
  private request: http.ClientRequest | undefined;
  private abortReason: Error | undefined;
  private readonly idleTimer: NodeJS.Timeout;
  private response: http.IncomingMessage | undefined;
  /** Body text received and not read yet; the response is paused while it holds more than MAX_UNREAD_CHARS. */
  private received: string[] = [];
  private receivedChars = 0;
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
      this.receivedChars += text.length;
      if (this.receivedChars > MAX_UNREAD_CHARS) response.pause();
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

  /**
   * Sends the request; again when a kept-alive connection we reused is reset before any answer: the race Node's http
   * docs describe, a server closing an idle connection as we send on it. (A server that took the call and died before
   * answering would be asked twice; the call would have failed otherwise.) Each stale socket is tried once and
   * dropped, and a new connection is never stale: this ends.
   */
  private async send(init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<http.IncomingMessage> {
    for (;;) {
      try {
        return await this.sendOnce(init);
      } catch (error) {
        if (!(error instanceof StaleSocket)) throw error;
      }
    }
  }

  private sendOnce(init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<http.IncomingMessage> {
    const { secure, options } = targetOf(this.url);
    const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
    return new Promise((resolve, reject) => {
      const request = (secure ? https : http).request({ ...options, method: init.method, headers }, resolve);
      this.request = request;
      if (this.abortReason) request.destroy(this.abortReason);
      request.on('error', (error: NodeJS.ErrnoException) => {
        const stale = request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE') && !this.signal.aborted;
        reject(stale ? new StaleSocket(error) : error);
      });
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
          this.receivedChars = 0;
          return text;
        }
        if (this.receivedError !== undefined) throw this.receivedError;
        if (this.receivedEnd) {
          this.bodyEnded = true;
          return undefined;
        }
        if (this.response.isPaused()) this.response.resume();
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
      drain(this.response, this.abort);
    } else {
      this.abort(new Error('upstream call released before the end of its answer'));
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

  /** Ends the request, once; errors it causes are read through `failure`, which knows why. */
  private readonly abort = (reason: unknown): void => {
    if (this.abortReason) return;
    this.abortReason = reason instanceof Error ? reason : new Error(String(reason));
    this.request?.destroy(this.abortReason);
  };

  private readonly onCallerAbort = (): void => {
    this.abort(this.signal.reason);
  };

  private readonly onIdle = (): void => {
    if (!this.waiting) return; // the consumer holds us: silence is not the upstream's
    this.wentSilent = true;
    this.abort(this.silenceError());
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

/** A kept-alive socket was closed by the server before it answered: the request may go again on a new one. */
class StaleSocket extends Error {
  constructor(cause: unknown) {
    super('the kept-alive connection was closed by the model server', { cause });
  }
}

function drain(response: http.IncomingMessage, abort: (reason: Error) => void): void {
  if (response.complete) return;
  const deadline = setTimeout(() => abort(new Error('upstream kept the answer open after its end')), DRAIN_GRACE_MS);
  deadline.unref();
  // Nothing depends on the rest of a finished answer: its text is dropped, its end frees the socket.
  response.removeAllListeners('data');
  response.on('close', () => clearTimeout(deadline));
  response.resume();
}
