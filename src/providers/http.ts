// What every provider that speaks HTTP to its upstream holds: where it is, how to authenticate, how long to wait, and
// a chat call answered in one JSON body.
import type { ProviderConfig } from '../config/schema.ts';
import { UpstreamError } from './types.ts';
import { UpstreamCall } from './upstream-call.ts';
import { upstreamErrorMessage } from './upstream-errors.ts';

export interface ProviderOptions {
  /** No byte from the upstream for this long (waiting for headers or mid-body) fails the call. Default 300 000. */
  upstreamIdleMs?: number;
  /** How long a readiness check may take before it counts as "not available". Default 5 000. */
  readinessTimeoutMs?: number;
}

export const DEFAULT_UPSTREAM_IDLE_MS = 300_000;
export const DEFAULT_READINESS_TIMEOUT_MS = 5_000;

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

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new UpstreamError('protocol', `upstream sent ${what} that is not JSON: ${JSON.stringify(excerpt)}`);
  }
}
