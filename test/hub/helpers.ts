// Test kit for the hub: a harness that closes every hub and connection after each test, a fake registrar speaking
// the wire with plain fetch, and an SSE reader that splits events on blank lines like registrars in the field do.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, vi } from 'vitest';
import { completionEnvelope, paths, SESSION_HEADER, type ProviderRow, type TaskFrame } from '../../src/protocol/index.ts';
import { startHub, type Hub, type HubOptions, type HubUser } from '../../src/hub/index.ts';

export const ALICE = 'alice-token-0123456789';
export const BOB = 'bob-token-0123456789';
export const ADMIN = 'admin-token-0123456789';
export const TOKENS: Record<string, HubUser> = {
  [ALICE]: { user: 'alice' },
  [BOB]: { user: 'bob' },
  [ADMIN]: { user: 'root', admin: true },
};

export type ProviderInput = Omit<ProviderRow, 'visibility'> & { visibility?: ProviderRow['visibility'] };

export function provider(name: string, extra: Partial<ProviderInput> = {}): ProviderInput {
  return { name, type: 'openai', model: `model-of-${name}`, visibility: 'public', initialStatus: 'active', ...extra };
}

/** A chat.completion as an upstream answers; `created` fixed, so two of them compare equal across a second's turn. */
export function completion(content: string, model = 'm'): Record<string, unknown> {
  return completionEnvelope({ id: 'chatcmpl-1', model, content, finishReason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, created: 1 });
}

export function chunkData(content: string, finishReason: string | null = null, model = 'm'): string {
  return JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content }, finish_reason: finishReason }] });
}

export interface SseEvent {
  event?: string;
  data?: string;
  comment?: string;
}

/** Reads an SSE body; `next()` resolves undefined once the stream has ended. */
export class SseReader {
  readonly #events: SseEvent[] = [];
  readonly #waiters: Array<() => void> = [];
  #ended = false;
  #buffer = '';

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    void this.#pump();
  }

  get ended(): boolean {
    return this.#ended;
  }

  async next(timeoutMs = 2000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#events.length === 0 && !this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#events.shift();
  }

  /** The next event that is not a comment. */
  async nextEvent(timeoutMs = 2000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now())).catch(() => {
        throw new Error(`no SSE event other than comments within ${timeoutMs} ms`);
      });
      if (event?.comment === undefined) return event;
    }
  }

  async nextTask(timeoutMs = 2000): Promise<TaskFrame> {
    const event = await this.nextEvent(timeoutMs);
    if (event?.event !== 'task' || event.data === undefined) throw new Error(`expected a task event, got ${JSON.stringify(event)}`);
    return JSON.parse(event.data) as TaskFrame;
  }

  /** Every data line up to the end of the stream (comments skipped). */
  async rest(timeoutMs = 2000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const data: string[] = [];
    for (;;) {
      const event = await this.nextEvent(Math.max(1, deadline - Date.now()));
      if (event === undefined) return data;
      data.push(event.data ?? '');
    }
  }

  close(): void {
    this.controller.abort();
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const bytes of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        this.#buffer += decoder.decode(bytes, { stream: true });
        let end: number;
        while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
          this.#events.push(parseBlock(this.#buffer.slice(0, end)));
          this.#buffer = this.#buffer.slice(end + 2);
        }
        this.#wake();
      }
    } catch {
      // aborted by close(): the stream has ended for the reader.
    }
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

function parseBlock(block: string): SseEvent {
  const event: SseEvent = {};
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) event.comment = line.slice(1).trim();
    else if (line.startsWith('event: ')) event.event = line.slice(7);
    else if (line.startsWith('data: ')) data.push(line.slice(6));
  }
  if (data.length > 0) event.data = data.join('\n');
  return event;
}

export interface Client {
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** A streaming request whose connection the harness closes after the test. */
  sse(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<SseReader>;
}

/** One harness per test file: every hub and stream opened through it is closed after each test. */
export function hubHarness(defaults: Partial<HubOptions> = {}) {
  // One state dir (one session key) per file: a hub restarted in a test still verifies the ids it issued.
  const stateDir = mkdtempSync(join(tmpdir(), 'hub-state-'));
  const hubs: Hub[] = [];
  const readers: SseReader[] = [];
  afterEach(async () => {
    for (const reader of readers.splice(0)) reader.close();
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  });

  function client(hub: Hub, token: string): Client {
    const auth = { authorization: `Bearer ${token}` };
    return {
      post: (path, body, headers = {}) =>
        fetch(hub.url + path, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }),
      get: (path, headers = {}) => fetch(hub.url + path, { headers: { ...auth, ...headers } }),
      async sse(path, init) {
        const controller = new AbortController();
        const response = await fetch(hub.url + path, {
          method: init.method ?? 'GET',
          headers: { ...auth, accept: 'text/event-stream', ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          signal: controller.signal,
        });
        const reader = new SseReader(response, controller);
        readers.push(reader);
        return reader;
      },
    };
  }

  return {
    async start(options: Partial<HubOptions> = {}): Promise<Hub> {
      const hub = await startHub({ port: 0, tokens: TOKENS, keepAliveMs: 50, watchdogMs: 5_000, taskTimeoutMs: 5_000, stateDir, ...defaults, ...options });
      hubs.push(hub);
      return hub;
    },
    client,
    stateDir,
    /** A registrar speaking the wire with plain fetch. */
    registrar(hub: Hub, token = ALICE) {
      const api = client(hub, token);
      let sessionId: string | undefined;
      return {
        api,
        get sessionId(): string {
          if (sessionId === undefined) throw new Error('register first');
          return sessionId;
        },
        async register(providers: ProviderInput[], extra: Record<string, unknown> = {}): Promise<string> {
          const res = await api.post(paths.register, { providers, ...extra });
          const body = (await res.json()) as { providerSessionId?: string; error?: { message: string } };
          if (res.status !== 201 || body.providerSessionId === undefined) throw new Error(`register: ${res.status} ${JSON.stringify(body)}`);
          sessionId = body.providerSessionId;
          return sessionId;
        },
        heartbeat(extra: Record<string, unknown> = {}): Promise<Response> {
          return api.post(paths.heartbeat, { providerSessionId: sessionId, ...extra });
        },
        stream(): Promise<SseReader> {
          return api.sse(paths.stream, { headers: { [SESSION_HEADER]: this.sessionId } });
        },
        result(taskId: string, result: unknown): Promise<Response> {
          return api.post(paths.result(taskId), result, { [SESSION_HEADER]: this.sessionId });
        },
      };
    },
  };
}

export async function waitUntil(condition: () => Promise<boolean> | boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  await vi.waitFor(
    async () => {
      if (!(await condition())) throw new Error(`${what} not met within ${timeoutMs} ms`);
    },
    { timeout: timeoutMs, interval: 10 },
  );
}

export async function errorMessage(res: Response): Promise<string> {
  const body = (await res.json()) as { error?: { message?: string } };
  return body.error?.message ?? `(no error message in ${JSON.stringify(body)})`;
}
