// Finds the model servers running on this machine (Ollama, vLLM, llama.cpp, LM Studio) for `up` and `init`.
import * as v from 'valibot';
import { hostUrl } from './host-url.ts';

export type ServerKind = 'ollama' | 'vllm' | 'llama.cpp' | 'lmstudio';

export interface DetectedServer {
  kind: ServerKind;
  /** The base as the server's own clients write it: the root for `ollama`, the `/v1` base for `openai`. */
  baseUrl: string;
  type: 'openai' | 'ollama';
  models: string[];
  /** It answers 503 while it loads its model (llama-server): it is a server, its models are listed once it is ready. */
  loading?: boolean;
}

export interface DetectOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** How long a server may take to answer all of its probe (one or two requests). Default 400 ms. */
  timeoutMs?: number;
  /** Ports to probe per kind; an empty list skips the kind. Defaults: the servers' own defaults. */
  ports?: Partial<Record<ServerKind, number[]>>;
}

/** Preference order, which is also the order of the result. llama-server's default is moving from 8080 to 9931. */
const DEFAULT_PORTS: Record<ServerKind, number[]> = {
  ollama: [11434],
  vllm: [8000],
  'llama.cpp': [8080, 9931],
  lmstudio: [1234],
};
const KINDS = Object.keys(DEFAULT_PORTS) as ServerKind[];

const OllamaTags = v.object({ models: v.array(v.unknown()) });
const OpenAiModels = v.object({ data: v.array(v.unknown()) });

/** Probes every candidate in parallel; a server that lists no model is left out, unless it is loading. Never throws. */
export async function detectLocalServers(options: DetectOptions = {}): Promise<DetectedServer[]> {
  const host = options.host ?? '127.0.0.1';
  const root = hostUrl(host);
  const timeoutMs = options.timeoutMs ?? 400;
  const probes = KINDS.flatMap((kind) =>
    (options.ports?.[kind] ?? DEFAULT_PORTS[kind]).map((port) =>
      probe(kind, `${root}:${port}`, AbortSignal.timeout(timeoutMs)).catch(() => undefined),
    ),
  );
  const found: DetectedServer[] = [];
  for (const server of await Promise.all(probes)) {
    // One server answering to two kinds' probes (say llama-server on vLLM's port) is reported once, as the first.
    if (server && (server.models.length > 0 || server.loading) && !found.some((f) => f.baseUrl === server.baseUrl)) found.push(server);
  }
  return found;
}

async function probe(kind: ServerKind, origin: string, signal: AbortSignal): Promise<DetectedServer | undefined> {
  switch (kind) {
    case 'ollama': {
      if ((await get(`${origin}/api/version`, signal)).status !== 200) return undefined;
      const tags = v.safeParse(OllamaTags, await getJson(`${origin}/api/tags`, signal));
      const models = tags.success ? namesOf(tags.output.models, 'name') : [];
      return { kind, baseUrl: origin, type: 'ollama', models };
    }
    case 'vllm':
      // vLLM answers nothing while it loads, then /health 200.
      if ((await get(`${origin}/health`, signal)).status !== 200) return undefined;
      return { kind, baseUrl: `${origin}/v1`, type: 'openai', models: await openAiModels(origin, signal) };
    case 'llama.cpp': {
      // llama-server answers /health 503 while it loads: it is there, and recent builds already list the model.
      const { status } = await get(`${origin}/health`, signal);
      if (status !== 200 && status !== 503) return undefined;
      const models = await openAiModels(origin, signal);
      return { kind, baseUrl: `${origin}/v1`, type: 'openai', models, ...(status === 503 && models.length === 0 ? { loading: true } : {}) };
    }
    case 'lmstudio':
      return { kind, baseUrl: `${origin}/v1`, type: 'openai', models: await openAiModels(origin, signal) };
  }
}

async function openAiModels(origin: string, signal: AbortSignal): Promise<string[]> {
  const list = v.safeParse(OpenAiModels, await getJson(`${origin}/v1/models`, signal));
  return list.success ? namesOf(list.output.data, 'id') : [];
}

function namesOf(entries: unknown[], field: string): string[] {
  return entries
    .map((entry) => (typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)[field] : undefined))
    .filter((name): name is string => typeof name === 'string' && name.length > 0);
}

async function get(url: string, signal: AbortSignal): Promise<Response> {
  const response = await fetch(url, { signal, redirect: 'error' });
  // The status is all a readiness probe needs.
  await response.body?.cancel();
  return response;
}

async function getJson(url: string, signal: AbortSignal): Promise<unknown> {
  const response = await fetch(url, { signal, headers: { accept: 'application/json' }, redirect: 'error' });
  if (response.status !== 200) {
    await response.body?.cancel();
    return undefined;
  }
  return response.json();
}

/**
 * Waits for a loading server to list its models, `onWait` told once a second how long it has waited; gives up after
 * `timeoutMs` and answers the server as it was (still loading).
 */
export async function waitUntilLoaded(server: DetectedServer, options: { timeoutMs: number; pollMs?: number; onWait?: (waitedMs: number) => void }): Promise<DetectedServer> {
  const started = Date.now();
  let said = 0;
  const origin = server.baseUrl.replace(/\/v1$/, '');
  while (Date.now() - started < options.timeoutMs) {
    const models = await openAiModels(origin, AbortSignal.timeout(1_000)).catch(() => []);
    if (models.length > 0) return { ...server, models, loading: undefined };
    const waited = Date.now() - started;
    if (waited - said >= 1_000) {
      said = waited;
      options.onWait?.(waited);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
  }
  return server;
}
