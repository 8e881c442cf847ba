// OpenAI's answer shapes, built by the providers that translate a native API (ollama, anthropic, demo) so that every
// `openai` frame is answered as an OpenAI server would answer it; and the reading of a caller's body they share.
import type { OpenAiEndpoint, Usage } from '../protocol/index.ts';
import { type OpenAiCall, UnsupportedField } from './types.ts';

/** Where each endpoint lives under an OpenAI-compatible base URL. */
export const ENDPOINT_PATHS: Record<OpenAiEndpoint, string> = {
  'chat.completions': '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
};

/** The caller asked for the usage chunk at the end of a stream. */
export function wantsUsage(body: Record<string, unknown>): boolean {
  return (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
}

export interface ToolCallOut {
  id: string;
  name: string;
  /** JSON text, as OpenAI gives it. */
  arguments: string;
}

export interface ChoiceOut {
  content: string | null;
  reasoning?: string;
  toolCalls?: ToolCallOut[];
  finishReason: string | null;
}

const created = (): number => Math.floor(Date.now() / 1000);

function toolCallsOut(calls: ToolCallOut[]) {
  return calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
}

export function chatCompletion(call: OpenAiCall, choice: ChoiceOut, usage: Usage): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: choice.content };
  if (choice.reasoning) message.reasoning_content = choice.reasoning;
  if (choice.toolCalls?.length) message.tool_calls = toolCallsOut(choice.toolCalls);
  return {
    id: `chatcmpl-${call.taskId}`,
    object: 'chat.completion',
    created: created(),
    model: call.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: choice.finishReason }],
    usage,
  };
}

/** The `chat.completion.chunk`s of one streamed answer, as JSON text, each built from what the upstream said. */
export class ChunkWriter {
  private readonly created = created();
  private roleSent = false;

  constructor(private readonly call: OpenAiCall) {}

  private chunk(delta: Record<string, unknown>, finishReason: string | null): string {
    if (!this.roleSent) {
      delta = { role: 'assistant', ...delta };
      this.roleSent = true;
    }
    return JSON.stringify({
      id: `chatcmpl-${this.call.taskId}`,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.call.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    });
  }

  content(text: string): string {
    return this.chunk({ content: text }, null);
  }

  reasoning(text: string): string {
    return this.chunk({ reasoning_content: text }, null);
  }

  /** The first delta of a tool call: its id and name, and its arguments so far. */
  toolCallStart(index: number, id: string, name: string, args = ''): string {
    return this.chunk({ tool_calls: [{ index, id, type: 'function', function: { name, arguments: args } }] }, null);
  }

  toolCallArguments(index: number, args: string): string {
    return this.chunk({ tool_calls: [{ index, function: { arguments: args } }] }, null);
  }

  finish(reason: string | null): string {
    return this.chunk({}, reason);
  }

  /** The closing usage chunk OpenAI sends when `stream_options.include_usage` asks for it. */
  usage(usage: Usage): string {
    return JSON.stringify({ id: `chatcmpl-${this.call.taskId}`, object: 'chat.completion.chunk', created: this.created, model: this.call.model, choices: [], usage });
  }
}

export function textCompletion(call: OpenAiCall, text: string, finishReason: string | null, usage: Usage): Record<string, unknown> {
  return {
    id: `cmpl-${call.taskId}`,
    object: 'text_completion',
    created: created(),
    model: call.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
    usage,
  };
}

export function textChunk(call: OpenAiCall, text: string, finishReason: string | null, usage?: Usage): string {
  return JSON.stringify({
    id: `cmpl-${call.taskId}`,
    object: 'text_completion',
    created: created(),
    model: call.model,
    choices: usage && text === '' && finishReason === null ? [] : [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
    ...(usage ? { usage } : {}),
  });
}

/** An embeddings answer; `base64` (what the openai SDK asks for by default) packs each vector as float32 LE. */
export function embeddingList(call: OpenAiCall, vectors: number[][], promptTokens: number): Record<string, unknown> {
  const base64 = call.body.encoding_format === 'base64';
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
    })),
    model: call.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** The texts of an embeddings `input`: a string or strings; token arrays are refused (no native API takes them). */
export function embeddingInputs(body: Record<string, unknown>, upstream: string): string[] {
  const input = body.input;
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.every((item) => typeof item === 'string')) return input as string[];
  throw new UnsupportedField('input', `input: ${upstream} embeds text only: send a string or an array of strings`);
}

/** `stop` as a list: OpenAI takes a string or up to four strings. */
export function stopList(body: Record<string, unknown>): string[] | undefined {
  const stop = body.stop;
  if (stop === undefined || stop === null) return undefined;
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.every((item) => typeof item === 'string')) return stop as string[];
  throw new UnsupportedField('stop', 'stop: expected a string or an array of strings');
}

/** max_completion_tokens is the newer name of max_tokens. */
export function maxTokensOf(body: Record<string, unknown>): number | undefined {
  const value = body.max_completion_tokens ?? body.max_tokens;
  return typeof value === 'number' ? value : undefined;
}

/** Refuses every field of `body` that the provider does not know how to express. */
export function refuseUnknown(body: Record<string, unknown>, known: ReadonlySet<string>, upstream: string): void {
  for (const key of Object.keys(body)) {
    if (!known.has(key)) throw new UnsupportedField(key, `${key}: not supported by ${upstream}; remove it or call an OpenAI-compatible model`);
  }
}

/** Fields of OpenAI's that never change the answer: accepted and not sent on. */
export const BOOKKEEPING_FIELDS = ['model', 'stream', 'stream_options', 'user', 'metadata', 'store', 'service_tier'];

/** A message's content as plain text: a string, null, or text parts (images are the caller of this to handle). */
export function textOf(content: unknown, path: string): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    return content
      .map((part, i) => {
        const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
        if (type === 'text' && typeof text === 'string') return text;
        throw new UnsupportedField(`${path}[${i}]`, `${path}[${i}]: only text parts are supported here`);
      })
      .join('');
  }
  throw new UnsupportedField(path, `${path}: expected a string, null, or an array of parts`);
}

/** A data: URL's media type and base64 payload; undefined for any other URL. */
export function dataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return match ? { mediaType: match[1], data: match[2] } : undefined;
}

/** Tool-call arguments as an object: OpenAI sends JSON text, native APIs take the object. */
export function argumentsObject(args: unknown, path: string): Record<string, unknown> {
  if (typeof args === 'object' && args !== null) return args as Record<string, unknown>;
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Refused below, naming the field.
  }
  throw new UnsupportedField(path, `${path}: tool-call arguments must be a JSON object`);
}
