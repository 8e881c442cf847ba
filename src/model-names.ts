// The models a server lists (Ollama /api/tags, else /v1/models) and the wire names they are published under
// (SPEC.md, `model: "*"`): a file path becomes its base name without extension, cleaned to a valid wire name.
import * as v from 'valibot';
import type { ProviderConfig } from './config/schema.ts';

const MAX_NAME = 128;
/** What llama.cpp and friends load: an id ending so is a file, named by its base name. */
const MODEL_FILE = /\.(gguf|ggml|bin|safetensors|pt|pth|onnx|llamafile)$/i;

/** `/models/Qwen-7B-Q4_K_M.gguf` → `Qwen-7B-Q4_K_M`; `llama3.2:3b` and `Qwen/Qwen2.5-7B` stay as they are. */
export function cleanModelName(id: string): string {
  const isPath = MODEL_FILE.test(id) || /^(\/|\.{1,2}\/|~\/|[A-Za-z]:\\)/.test(id);
  const base = isPath ? (id.split(/[\\/]/).filter(Boolean).at(-1) ?? id).replace(MODEL_FILE, '') : id;
  return base.replace(/[^A-Za-z0-9._:\-/]/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/\/+$/, '').slice(0, MAX_NAME);
}

/** The wire name of one listed model: its clean name, under the provider's publishName when it has one. */
export function modelWireName(id: string, publishName?: string): string | undefined {
  const clean = cleanModelName(id);
  if (clean === '') return undefined;
  return publishName ? `${publishName}/${clean}`.slice(0, MAX_NAME) : clean;
}

const OllamaTags = v.object({ models: v.array(v.looseObject({ name: v.optional(v.string()), model: v.optional(v.string()) })) });
const OpenAiModels = v.object({ data: v.array(v.looseObject({ id: v.optional(v.string()) })) });

/** Where a provider's server lists its models, and with which credentials. */
function listRequest(config: ProviderConfig): { url: string; headers: Record<string, string>; read: (body: unknown) => string[] | undefined } {
  const base = (config.baseUrl ?? '').replace(/\/+$/, '');
  if (config.type === 'ollama') {
    return {
      url: `${base}/api/tags`,
      headers: {},
      read: (body) => {
        const parsed = v.safeParse(OllamaTags, body);
        return parsed.success ? parsed.output.models.map((m) => m.name ?? m.model ?? '') : undefined;
      },
    };
  }
  const anthropic = config.type === 'anthropic';
  const headers: Record<string, string> = anthropic
    ? { ...(config.apiKey ? { 'x-api-key': config.apiKey } : {}), 'anthropic-version': '2023-06-01' }
    : config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {};
  return {
    url: anthropic ? `${base}/v1/models` : `${base}/models`,
    headers,
    read: (body) => {
      const parsed = v.safeParse(OpenAiModels, body);
      return parsed.success ? parsed.output.data.map((m) => m.id ?? '') : undefined;
    },
  };
}

/**
 * The model ids the provider's server lists now, or undefined when it cannot be listed (down, loading, an answer we
 * cannot read): a server that is away has not removed its models.
 */
export async function listServerModels(config: ProviderConfig, timeoutMs: number, signal?: AbortSignal): Promise<string[] | undefined> {
  if (config.type === 'demo') return ['demo'];
  const { url, headers, read } = listRequest(config);
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, { headers: { accept: 'application/json', ...headers }, redirect: 'error', signal: signal ? AbortSignal.any([signal, deadline]) : deadline });
    if (response.status !== 200) {
      await response.body?.cancel();
      return undefined;
    }
    const ids = read(await response.json());
    return ids?.filter((id) => id.length > 0);
  } catch {
    return undefined;
  }
}
