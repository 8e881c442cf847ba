// A registrar at the level of the wire (SPEC.md §1–5), for the hub's front-door tests: it registers (with
// `openai.v1` unless told otherwise), opens the task stream and relays each `openai` frame's body to an
// OpenAI-compatible upstream verbatim but for `model` (and `stream_options.include_usage` when streaming), posting
// back the upstream's JSON, its SSE `data` payloads as chunks, or its HTTP error with status and fields. Base
// `infer` frames go to the same upstream as a plain chat call. It never reconnects on its own: a test decides when
// the stream drops and comes back.
import { CAPABILITY_OPENAI, paths, SESSION_HEADER, type TaskFrame, type TaskResult } from '../../src/protocol/index.ts';

export interface WireRegistrarOptions {
  hubUrl: string;
  token: string;
  /** Published rows, each relayed to `upstream` (an OpenAI base URL, with /v1) as `model`. */
  providers: { name: string; model: string; upstream: string; poolName?: string; initialStatus?: 'active' | 'hibernating' }[];
  agents?: Record<string, unknown>[];
  /** Default ['openai.v1']; [] makes a base-wire registrar. */
  capabilities?: string[];
}

export interface WireRegistrar {
  readonly sessionId: string;
  /** What the hub answered to register. */
  readonly capabilities: string[] | undefined;
  /** Every frame received, in order. */
  readonly frames: TaskFrame[];
  openStream(): Promise<void>;
  /** Drops the task stream, as a killed registrar's connection does. */
  dropStream(): void;
  close(): void;
}

const ENDPOINT_PATHS = { 'chat.completions': '/chat/completions', completions: '/completions', embeddings: '/embeddings' } as const;

export async function startWireRegistrar(options: WireRegistrarOptions): Promise<WireRegistrar> {
  const auth = { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' };
  const upstreamOf = new Map(options.providers.map((p) => [p.name, p]));
  const res = await fetch(options.hubUrl + paths.register, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      providers: options.providers.map((p) => ({ name: p.name, type: 'openai', model: p.model, visibility: 'public', initialStatus: p.initialStatus ?? 'active', ...(p.poolName ? { poolName: p.poolName } : {}) })),
      ...(options.agents ? { agents: options.agents } : {}),
      ...(options.capabilities?.length === 0 ? {} : { capabilities: options.capabilities ?? [CAPABILITY_OPENAI] }),
    }),
  });
  const registered = (await res.json()) as { providerSessionId: string; capabilities?: string[] };
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(registered)}`);
  const sessionId = registered.providerSessionId;
  const frames: TaskFrame[] = [];
  const running = new Map<string, AbortController>();
  let stream: AbortController | undefined;

  const post = (taskId: string, result: TaskResult): Promise<Response> =>
    fetch(options.hubUrl + paths.result(taskId), { method: 'POST', headers: { ...auth, [SESSION_HEADER]: sessionId }, body: JSON.stringify(result) });

  async function relay(taskId: string, url: string, body: Record<string, unknown>, streaming: boolean): Promise<void> {
    const abort = new AbortController();
    running.set(taskId, abort);
    try {
      const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: abort.signal });
      if (!answer.ok) {
        const { error } = (await answer.json()) as { error: { message: string; type?: string; code?: unknown; param?: string | null } };
        await post(taskId, { error: error.message, status: answer.status, ...(error.type ? { type: error.type } : {}), code: error.code == null ? null : String(error.code), param: error.param ?? null });
        return;
      }
      if (!streaming) {
        await post(taskId, { status: 200, body: (await answer.json()) as Record<string, unknown> });
        return;
      }
      let seq = 0;
      for await (const data of sseData(answer)) {
        if (data === '[DONE]') break;
        await post(taskId, { chunk: { data, seq: seq++ } });
      }
      await post(taskId, { chunk: { data: '[DONE]', seq, done: true } });
    } catch (error) {
      if (!abort.signal.aborted) await post(taskId, { error: `upstream failed: ${(error as Error).message}` });
    } finally {
      running.delete(taskId);
    }
  }

  function handle(frame: TaskFrame): void {
    frames.push(frame);
    if (frame.kind === 'cancel') return running.get(frame.taskId)?.abort();
    if (running.has(frame.taskId)) return;
    const provider = upstreamOf.get(frame.llmName);
    if (!provider) return void post(frame.taskId, { error: `provider '${frame.llmName}' not registered locally` });
    if (frame.kind === 'wake') return void post(frame.taskId, { status: 200, body: { ok: true, ms: 0 } });
    if (frame.kind === 'infer') {
      return void relay(frame.taskId, provider.upstream + ENDPOINT_PATHS['chat.completions'], { ...frame.request, model: provider.model, stream: frame.streaming }, frame.streaming);
    }
    const body: Record<string, unknown> = { ...frame.body, model: provider.model };
    if (frame.streaming) body.stream_options = { ...(frame.body.stream_options as object | undefined), include_usage: true };
    void relay(frame.taskId, provider.upstream + ENDPOINT_PATHS[frame.endpoint], body, frame.streaming);
  }

  const registrar: WireRegistrar = {
    sessionId,
    capabilities: registered.capabilities,
    frames,
    async openStream() {
      const controller = new AbortController();
      stream = controller;
      const answer = await fetch(options.hubUrl + paths.stream, { headers: { ...auth, accept: 'text/event-stream', [SESSION_HEADER]: sessionId }, signal: controller.signal });
      if (answer.status !== 200) throw new Error(`stream: ${answer.status}`);
      void (async () => {
        try {
          for await (const data of sseData(answer)) handle(JSON.parse(data) as TaskFrame);
        } catch {
          // the stream was dropped by the test or ended by the hub
        }
      })();
    },
    dropStream() {
      stream?.abort();
    },
    close() {
      stream?.abort();
      for (const abort of running.values()) abort.abort();
    },
  };
  return registrar;
}

/** The `data` of each event of an SSE body (events split on a blank line, as our hub and the doubles frame them). */
async function* sseData(response: Response): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const lines = buffer.slice(0, end).split('\n').filter((line) => line.startsWith('data: '));
      buffer = buffer.slice(end + 2);
      if (lines.length > 0) yield lines.map((line) => line.slice(6)).join('\n');
    }
  }
}
