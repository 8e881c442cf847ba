// The registrar's side of the hub wire (SPEC.md §1–4): the token in one place; register, heartbeat and leave through
// ky, results through node:http (see resultAgent). No redirect is ever followed: the token goes with every request,
// and a hub URL that redirects elsewhere would carry it there.
import http from 'node:http';
import https from 'node:https';
import ky, { type KyInstance } from 'ky';
import { backoffDelay, type BackoffPolicy } from '../machines/backoff.ts';
import { paths, SESSION_HEADER, type ProviderStatus, type RegisterRequest, type TaskResult } from './protocol/index.ts';
import { networkErrorPhrase } from './network-error.ts';
import { redactUrl, withoutCredentials } from './redact.ts';

export interface HubClientOptions {
  /** One hub, or the URLs of one hub's replicas in the order the client fails over in (SPEC.md, config). */
  url: string | readonly string[];
  token: string;
  requestTimeoutMs: number;
  resultDeadlineMs: number;
  /** Default 30 000: while on a later URL, the first is tried again (one GET /healthz) at most this often. */
  failbackMs?: number;
  /** The URL in use changed: `why` says what happened to the one left. */
  onUrlChange?: (url: string, previous: string, why: string) => void;
  /** The waits between the posts of one result (default RESULT_RETRY). */
  resultRetry?: BackoffPolicy;
  /** The jitter source of those waits, in [0, 1) (default Math.random). */
  random?: () => number;
}

/** Where one of the hub's URLs is called: ky for the control calls, node:http agents for results. */
interface HubTarget {
  url: string;
  http: KyInstance;
  result: { protocol: string; hostname: string; port: string; basePath: string };
  resultAgent: http.Agent;
  uploadAgent?: http.Agent;
}

/** Answers on register that say this replica cannot serve now while another may (a balancer's or proxy's words). */
const REPLICA_DOWN = [502, 503, 504];

/**
 * Retries of one result: 50 ms × 2^attempt, at most 2 s, jittered like every backoff of the registrar
 * (machines/backoff.ts), so the retries of many tasks do not hit a recovering hub in step.
 */
export const RESULT_RETRY: BackoffPolicy = { baseMs: 50, capMs: 2_000 };

/** The hub answered 404 for a task: it is unknown or expired, and its work should stop. */
export class TaskGoneError extends Error {
  override readonly name = 'TaskGoneError';
  constructor(taskId: string) {
    super(`the hub no longer knows task ${taskId}`);
  }
}

/** A hub call that got no usable answer; `status` when the hub answered at all. */
export class HubCallError extends Error {
  override readonly name = 'HubCallError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Result POSTs in flight at once, per hub. */
const MAX_RESULT_SOCKETS = 32;

const RETRYABLE = [408, 425, 429, 500, 502, 503, 504];

/** Longest session id taken from a hub: it travels in a header on every stream and result. */
export const MAX_SESSION_ID_CHARS = 200;

/** Why a session id from the hub cannot travel in a header, or undefined when it can (visible ASCII, no spaces). */
export function sessionIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'it is empty';
  if (id.length > MAX_SESSION_ID_CHARS) return `it is ${id.length} characters long, over ${MAX_SESSION_ID_CHARS}`;
  if (!/^[\x21-\x7e]+$/.test(id)) return 'it has control characters, spaces or characters outside ASCII';
  return undefined;
}

/** The header that names the session a task was sent to, on its results; none when no session is known. */
export function sessionHeader(sessionId: string | undefined): Record<string, string> {
  return sessionId ? { [SESSION_HEADER]: sessionId } : {};
}

export function isRedirect(status: number): boolean {
  return status >= 300 && status < 400 && status !== 304;
}

/** What a redirect from the hub means for the person running the registrar (the target's credentials redacted). */
export function redirectRefusal(what: string, status: number, location: string | null | undefined): string {
  const where = location ? ` to ${redactUrl(location)}` : '';
  return `${what}: the hub answered ${status}, a redirect${where}; not followed, since a hub URL that redirects elsewhere would carry the token there: set hub.url to the address the hub answers on`;
}

export class HubClient {
  /** Every URL of the hub, in failover order. */
  readonly urls: readonly string[];
  private readonly targets: HubTarget[];
  private current = 0;
  /** When the first URL was last tried again while a later one was in use. */
  private lastFailback = 0;
  private failingBack = false;
  private readonly failbackMs: number;
  private readonly onUrlChange: HubClientOptions['onUrlChange'];
  private readonly resultDeadlineMs: number;
  private readonly resultRetry: BackoffPolicy;
  private readonly random: () => number;
  private readonly requestTimeoutMs: number;
  private readonly authorization: string;
  /** What the hub said it speaks in its register answer (SPEC.md §5); empty for a base hub. */
  capabilities: ReadonlySet<string> = new Set();

  constructor(options: HubClientOptions) {
    // fetch refuses a URL with credentials in it, and the hub takes the token: they are neither sent nor printed.
    this.urls = [options.url].flat().map((url) => withoutCredentials(url).replace(/\/+$/, ''));
    if (this.urls.length === 0) throw new Error('HubClient needs at least one hub URL');
    this.authorization = `Bearer ${options.token}`;
    this.resultDeadlineMs = options.resultDeadlineMs;
    this.resultRetry = options.resultRetry ?? RESULT_RETRY;
    this.random = options.random ?? Math.random;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.failbackMs = options.failbackMs ?? 30_000;
    this.onUrlChange = options.onUrlChange;
    this.targets = this.urls.map((url) => this.targetOf(url, options.requestTimeoutMs));
  }

  /** The URL every call goes to now. */
  get url(): string {
    return this.target.url;
  }

  private get target(): HubTarget {
    return this.targets[this.current] as HubTarget;
  }

  private targetOf(url: string, timeoutMs: number): HubTarget {
    const target = new URL(url);
    // Results go through node:http on keep-alive sockets, not ky: a streamed answer posts a chunk per token or so,
    // and ky over fetch cost about five times the CPU per POST (a Request clone, web streams, two abort signals).
    // Bounded: a burst of results (a forced shutdown answering a full queue) waits for a socket instead of opening
    // one per task, which overflowed the hub's listen backlog and lost answers to SYN retransmits.
    const agentOptions = { keepAlive: true, maxSockets: MAX_RESULT_SOCKETS };
    return {
      url,
      result: { protocol: target.protocol, hostname: target.hostname.replace(/^\[|\]$/g, ''), port: target.port, basePath: target.pathname.replace(/\/+$/, '') },
      resultAgent: target.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions),
      http: ky.create({ prefixUrl: url, headers: { authorization: this.authorization }, timeout: timeoutMs, throwHttpErrors: false, retry: 0, redirect: 'manual' }),
    };
  }

  /** The URL at `index` failed a call: move to the next one, unless another call already moved on. */
  private failedOver(index: number, why: string): void {
    if (this.urls.length === 1 || index !== this.current) return;
    const previous = this.url;
    this.current = (index + 1) % this.urls.length;
    if (this.current !== 0) this.lastFailback = Date.now();
    this.onUrlChange?.(this.url, previous, why);
  }

  /** On a later URL: now and then, one GET to the first; any HTTP answer there means it is back, and calls go to it. */
  private maybeFailBack(): void {
    if (this.current === 0 || this.failingBack || Date.now() - this.lastFailback < this.failbackMs) return;
    this.failingBack = true;
    this.lastFailback = Date.now();
    const first = this.targets[0] as HubTarget;
    void first.http
      .get('healthz', { timeout: Math.min(this.requestTimeoutMs, 5_000) })
      .then(async (response) => {
        await response.body?.cancel();
        if (this.current === 0 || response.status >= 500) return;
        const previous = this.url;
        this.current = 0;
        this.onUrlChange?.(this.url, previous, 'the first hub URL answers again');
      })
      .catch(() => undefined)
      .finally(() => {
        this.failingBack = false;
      });
  }

  /** Headers of the task stream request (the stream itself is opened by the task-stream actor). */
  streamHeaders(sessionId: string): Record<string, string> {
    return { authorization: this.authorization, accept: 'text/event-stream', [SESSION_HEADER]: sessionId };
  }

  streamUrl(): string {
    this.maybeFailBack();
    return this.url + paths.stream;
  }

  /** `body` is the answer's JSON; when the answer is not JSON, `notJson` tells what came instead (its type and start). */
  async register(body: RegisterRequest, signal?: AbortSignal): Promise<{ status: number; body: unknown; notJson?: string }> {
    const index = this.current;
    const response = await this.call((http) => http.post(paths.register.slice(1), { json: body, signal }));
    if (REPLICA_DOWN.includes(response.status)) this.failedOver(index, `register answered ${response.status}`);
    if (isRedirect(response.status)) {
      await response.body?.cancel();
      throw new HubCallError(redirectRefusal('register', response.status, response.headers.get('location')), response.status);
    }
    const text = await readText(response, MAX_ANSWER_BYTES);
    try {
      return { status: response.status, body: JSON.parse(text) };
    } catch {
      const type = response.headers.get('content-type');
      const excerpt = text.length > 120 ? `${text.slice(0, 120)}…` : text;
      return { status: response.status, body: undefined, notJson: `${type ? `${type}, ` : ''}${text === '' ? 'empty' : JSON.stringify(excerpt)}` };
    }
  }

  /** `providers`: status changes since the last heartbeat (SPEC.md §2, an extension a hub may ignore). */
  async heartbeat(sessionId: string, providers: { name: string; status: ProviderStatus }[], signal?: AbortSignal): Promise<number> {
    const json = providers.length > 0 ? { providerSessionId: sessionId, providers } : { providerSessionId: sessionId };
    const response = await this.call((http) => http.post(paths.heartbeat.slice(1), { json, signal }));
    await response.body?.cancel();
    if (isRedirect(response.status)) throw new HubCallError(redirectRefusal('heartbeat', response.status, response.headers.get('location')), response.status);
    return response.status;
  }

  /** Takes leave of the hub (SPEC.md §6, an extension: a base hub answers 404). Resolves with the status. */
  async leave(sessionId: string, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const response = await this.call((http) => http.post(paths.leave.slice(1), { json: { providerSessionId: sessionId }, timeout: timeoutMs, signal }));
    await response.body?.cancel();
    return response.status;
  }

  /**
   * Posts one result, retrying network errors and 5xx with backoff and the same body until the result deadline.
   * Throws TaskGoneError on 404 and HubCallError when the deadline passes or the hub refuses the body.
   * `sessionId`: the session the task was sent to, which a hub checks (mcpd ignores it).
   */
  async postResult(taskId: string, result: TaskResult, options: { sessionId?: string; signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    const deadlineAt = Date.now() + this.resultDeadlineMs;
    const body = JSON.stringify(result);
    const headers: Record<string, string | number> = {
      authorization: this.authorization,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...sessionHeader(options.sessionId),
    };
    const lost = () => new HubCallError(`result of task ${taskId} lost: the hub did not take it within ${this.resultDeadlineMs} ms`);
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const remaining = deadlineAt - Date.now();
      if (remaining <= 0) throw lost();
      let waitMs: number;
      const index = this.current;
      try {
        const answer = await this.postOnce(paths.result(taskId), headers, body, Math.min(this.requestTimeoutMs, remaining), signal);
        if (answer.status >= 200 && answer.status < 300) return;
        if (answer.status === 404) throw new TaskGoneError(taskId);
        if (isRedirect(answer.status)) throw new HubCallError(redirectRefusal(`result of task ${taskId}`, answer.status, answer.location), answer.status);
        if (!RETRYABLE.includes(answer.status)) {
          throw new HubCallError(`the hub refused the result of task ${taskId} (${answer.status}): ${answer.text.slice(0, 200)}`, answer.status);
        }
        waitMs = answer.retryAfterMs ?? this.resultRetryDelay(attempt);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof TaskGoneError || error instanceof HubCallError) throw error;
        // A network error or a timeout: the same body goes again, to the next URL when there is one.
        this.failedOver(index, `result post failed: ${networkErrorPhrase(error)}`);
        waitMs = this.resultRetryDelay(attempt);
      }
      if (Date.now() + waitMs >= deadlineAt) {
        await abortableSleep(Math.max(0, deadlineAt - Date.now()), signal);
        throw lost();
      }
      await abortableSleep(waitMs, signal);
    }
  }

  /** A request on the result sockets, with the token (the streamed upload of `result.stream`; `headers` name the session). */
  resultRequest(path: string, method: 'GET' | 'POST', headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal, sockets: 'result' | 'upload' = 'result'): http.ClientRequest {
    const target = this.target;
    const { protocol, hostname, port, basePath } = target.result;
    const transport = protocol === 'https:' ? https : http;
    const all = { authorization: this.authorization, ...headers };
    // An upload holds its socket for the whole stream: uploads get their own, unbounded like the tasks running.
    target.uploadAgent ??= protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    const agent = sockets === 'upload' ? target.uploadAgent : target.resultAgent;
    return transport.request({ protocol, hostname, port, path: basePath + path, method, headers: all, agent, signal, ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}) });
  }

  /** The wait before retry number `attempt` (0-based) of a result post or upload (RESULT_RETRY, jittered). */
  resultRetryDelay(attempt: number): number {
    return backoffDelay(attempt, this.resultRetry, this.random());
  }

  get resultDeadline(): number {
    return this.resultDeadlineMs;
  }

  /** One POST of a result; resolves with the status once the headers are in (an error body is read for the message). */
  private postOnce(
    path: string,
    headers: Record<string, string | number>,
    body: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ status: number; text: string; retryAfterMs?: number; location?: string }> {
    const target = this.target;
    const { protocol, hostname, port, basePath } = target.result;
    const transport = protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        { protocol, hostname, port, path: basePath + path, method: 'POST', headers, agent: target.resultAgent, signal, timeout: timeoutMs },
        (response) => {
          const status = response.statusCode ?? 0;
          if ((status >= 200 && status < 300) || status === 404) {
            response.resume();
            resolve({ status, text: '' });
            return;
          }
          const retryAfter = Number(response.headers['retry-after']);
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (piece: string) => {
            if (text.length < 1_000) text += piece;
          });
          response.on('end', () => resolve({ status, text, retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined, location: response.headers.location }));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`the hub did not answer within ${timeoutMs} ms`)));
      request.on('error', reject);
      request.end(body);
    });
  }

  /** One control call to the URL in use; unreachable (refused, reset, timed out) moves the next call to the next URL. */
  private async call(request: (http: KyInstance) => Promise<Response>): Promise<Response> {
    this.maybeFailBack();
    const index = this.current;
    const { url, http } = this.target;
    try {
      return await request(http);
    } catch (error) {
      const why = networkErrorPhrase(error);
      // Our own abort (a shutdown, a superseded call) says nothing about the hub.
      if ((error as Error).name !== 'AbortError') this.failedOver(index, `unreachable: ${why}`);
      throw new HubCallError(`hub ${url} unreachable: ${why}`);
    }
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Largest answer body read from the hub (a register answer is a few dozen bytes; a hostile one may be endless). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The start of a body, at most `maxBytes` of it; the rest is not read. */
async function readText(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    while (bytes < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // A body cut short: what arrived is what there is.
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return text;
}
