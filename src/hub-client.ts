// The registrar's side of the hub wire (SPEC.md §1–4): one ky instance, the token in one place.
import ky, { HTTPError, type KyInstance } from 'ky';
import { paths, SESSION_HEADER, type ProviderStatus, type RegisterRequest, type TaskResult } from './protocol/index.ts';

export interface HubClientOptions {
  url: string;
  token: string;
  requestTimeoutMs: number;
  resultDeadlineMs: number;
}

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

const RETRYABLE = [408, 425, 429, 500, 502, 503, 504];

export class HubClient {
  readonly url: string;
  private readonly http: KyInstance;
  private readonly resultDeadlineMs: number;
  private readonly authorization: string;
  /** Sent on result posts so a hub can check the task is ours; mcpd ignores it. */
  sessionId?: string;

  constructor(options: HubClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.authorization = `Bearer ${options.token}`;
    this.resultDeadlineMs = options.resultDeadlineMs;
    this.http = ky.create({
      prefixUrl: this.url,
      headers: { authorization: this.authorization },
      timeout: options.requestTimeoutMs,
      throwHttpErrors: false,
      retry: 0,
    });
  }

  /** Headers of the task stream request (the stream itself is opened by the task-stream actor). */
  streamHeaders(sessionId: string): Record<string, string> {
    return { authorization: this.authorization, accept: 'text/event-stream', [SESSION_HEADER]: sessionId };
  }

  streamUrl(): string {
    return this.url + paths.stream;
  }

  async register(body: RegisterRequest, signal?: AbortSignal): Promise<{ status: number; body: unknown }> {
    const response = await this.call(() => this.http.post(paths.register.slice(1), { json: body, signal }));
    return { status: response.status, body: await response.json().catch(() => undefined) };
  }

  /** `providers`: status changes since the last heartbeat (SPEC.md §2, an extension a hub may ignore). */
  async heartbeat(sessionId: string, providers: { name: string; status: ProviderStatus }[], signal?: AbortSignal): Promise<number> {
    const json = providers.length > 0 ? { providerSessionId: sessionId, providers } : { providerSessionId: sessionId };
    const response = await this.call(() => this.http.post(paths.heartbeat.slice(1), { json, signal }));
    await response.body?.cancel();
    return response.status;
  }

  /**
   * Posts one result, retrying network errors and 5xx with backoff and the same body until the result deadline.
   * Throws TaskGoneError on 404 and HubCallError when the deadline passes or the hub refuses the body.
   */
  async postResult(taskId: string, result: TaskResult, signal?: AbortSignal): Promise<void> {
    const deadline = AbortSignal.timeout(this.resultDeadlineMs);
    const headers: Record<string, string> = this.sessionId ? { [SESSION_HEADER]: this.sessionId } : {};
    try {
      const response = await this.http.post(paths.result(taskId).slice(1), {
        json: result,
        headers,
        signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
        throwHttpErrors: true,
        retry: {
          limit: Number.MAX_SAFE_INTEGER,
          methods: ['post'],
          statusCodes: RETRYABLE,
          retryOnTimeout: true,
          delay: (attempt) => 50 * 2 ** Math.min(attempt, 10),
          backoffLimit: 2_000,
          jitter: true,
        },
      });
      await response.body?.cancel();
    } catch (error) {
      if (error instanceof HTTPError && error.response.status === 404) throw new TaskGoneError(taskId);
      if (error instanceof HTTPError) {
        const text = await error.response.text().catch(() => '');
        throw new HubCallError(`the hub refused the result of task ${taskId} (${error.response.status}): ${text.slice(0, 200)}`, error.response.status);
      }
      if (deadline.aborted) throw new HubCallError(`result of task ${taskId} lost: the hub did not take it within ${this.resultDeadlineMs} ms`);
      throw error;
    }
  }

  private async call(request: () => Promise<Response>): Promise<Response> {
    try {
      return await request();
    } catch (error) {
      throw new HubCallError(`hub ${this.url} unreachable: ${describeNetworkError(error)}`);
    }
  }
}

/** `fetch failed` says nothing; the cause (ECONNREFUSED, ETIMEDOUT…) says what to check. */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return error.message;
}
