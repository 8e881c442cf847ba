// The built-in demo model: no network, a reply that is a fixed function of the last user message, streamed word by
// word at a steady pace, so a fresh install shows the whole path (hub, task, stream) working before any real model.
// Given tools it calls the first one, with arguments made from its schema, so an agent framework can be tried on it.
import type { ProviderConfig } from '../config/schema.ts';
import type { ChatMessage, InferRequest, Usage } from '../protocol/index.ts';
import { usageOf } from './usage-estimate.ts';
import { ChunkWriter, chatCompletion, embeddingInputs, embeddingList, textChunk, textCompletion, textOf, wantsUsage, type ToolCallOut } from './openai-shapes.ts';
import type { Completion, LlmProvider, OpenAiCall, StreamPiece } from './types.ts';

export const DEFAULT_DEMO_TOKEN_DELAY_MS = 15;
/** How much of the user's message the reply quotes back. */
const MAX_QUOTED_CHARS = 200;
const GREETING = 'Hello from the llm-registrar demo model.';

/** The demo model's whole answer to a conversation. */
export function demoReply(messages: readonly ChatMessage[]): string {
  const said = lastUserMessage(messages)?.trim().replace(/\s+/g, ' ');
  if (said === undefined || said === '') return `${GREETING} Send me a message and I will echo it back.`;
  const quoted = said.length > MAX_QUOTED_CHARS ? `${said.slice(0, MAX_QUOTED_CHARS)}…` : said;
  return `${GREETING} You said: "${quoted}".`;
}

/** The demo model's tokens: words with the whitespace before them, so the tokens join back into the text. */
export function demoTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

export class DemoProvider implements LlmProvider {
  readonly name: string;
  readonly type = 'demo';
  readonly model: string;
  private readonly tokenDelayMs: number;

  constructor(config: ProviderConfig) {
    this.name = config.name;
    this.model = config.model;
    this.tokenDelayMs = config.tokenDelayMs ?? DEFAULT_DEMO_TOKEN_DELAY_MS;
  }

  async isAvailable(): Promise<boolean> {
    return true;
  }

  /** Takes as long as streaming the same answer would. */
  async complete(request: InferRequest, signal: AbortSignal): Promise<Completion> {
    signal.throwIfAborted();
    const answer = answerTo(request);
    await pause(answer.tokens.length * this.tokenDelayMs, signal);
    return { content: answer.tokens.join(''), finishReason: answer.finishReason, usage: answer.usage };
  }

  async openai(call: OpenAiCall, signal: AbortSignal): Promise<Record<string, unknown>> {
    signal.throwIfAborted();
    if (call.endpoint === 'embeddings') {
      const inputs = embeddingInputs(call.body, 'the demo model');
      return embeddingList(call, inputs.map(demoEmbedding), inputs.reduce((sum, text) => sum + demoTokens(text).length, 0));
    }
    const answer = openAiAnswerTo(call);
    await pause(answer.tokens.length * this.tokenDelayMs, signal);
    const content = answer.tokens.join('');
    if (call.endpoint === 'completions') return textCompletion(call, content, answer.finishReason, answer.usage);
    return chatCompletion(call, answer.toolCall ? { content: null, toolCalls: [answer.toolCall], finishReason: 'tool_calls' } : { content, finishReason: answer.finishReason }, answer.usage);
  }

  async *openaiStream(call: OpenAiCall, signal: AbortSignal): AsyncGenerator<string, void, undefined> {
    signal.throwIfAborted();
    if (call.endpoint === 'embeddings') {
      yield JSON.stringify(await this.openai(call, signal));
      return;
    }
    const answer = openAiAnswerTo(call);
    const usage = wantsUsage(call.body) ? answer.usage : undefined;
    if (call.endpoint === 'completions') {
      for (const token of answer.tokens) {
        await pause(this.tokenDelayMs, signal);
        yield textChunk(call, token, null);
      }
      yield textChunk(call, '', answer.finishReason);
      if (usage) yield textChunk(call, '', null, usage);
      return;
    }
    const writer = new ChunkWriter(call);
    if (answer.toolCall) {
      await pause(this.tokenDelayMs, signal);
      yield writer.toolCallStart(0, answer.toolCall.id, answer.toolCall.name);
      await pause(this.tokenDelayMs, signal);
      yield writer.toolCallArguments(0, answer.toolCall.arguments);
      yield writer.finish('tool_calls');
    } else {
      for (const token of answer.tokens) {
        await pause(this.tokenDelayMs, signal);
        yield writer.content(token);
      }
      yield writer.finish(answer.finishReason);
    }
    if (usage) yield writer.usage(usage);
  }

  async *stream(request: InferRequest, signal: AbortSignal): AsyncGenerator<StreamPiece, void, undefined> {
    signal.throwIfAborted();
    const { tokens, finishReason, usage } = answerTo(request);
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) {
      await pause(this.tokenDelayMs, signal);
      yield { content: tokens[i] };
    }
    await pause(this.tokenDelayMs, signal);
    yield last >= 0 ? { content: tokens[last], finishReason, usage } : { finishReason, usage };
  }
}

function answerTo(request: InferRequest): { tokens: string[]; finishReason: string; usage: Usage } {
  const all = demoTokens(demoReply(request.messages));
  const cut = request.max_tokens !== undefined && request.max_tokens < all.length;
  const tokens = cut ? all.slice(0, request.max_tokens) : all;
  let promptTokens = 0;
  for (const message of request.messages) promptTokens += demoTokens(message.content).length;
  return { tokens, finishReason: cut ? 'length' : 'stop', usage: usageOf(promptTokens, tokens.length) };
}

interface DemoAnswer {
  tokens: string[];
  finishReason: string;
  usage: Usage;
  toolCall?: ToolCallOut;
}

/** The demo's answer to an OpenAI call: a tool call when tools are offered and the last turn is not a tool's result. */
function openAiAnswerTo(call: OpenAiCall): DemoAnswer {
  const maxTokens = typeof call.body.max_tokens === 'number' ? call.body.max_tokens : typeof call.body.max_completion_tokens === 'number' ? call.body.max_completion_tokens : undefined;
  if (call.endpoint === 'completions') {
    const prompt = Array.isArray(call.body.prompt) ? call.body.prompt.join('') : String(call.body.prompt ?? '');
    return answerTo({ messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens });
  }
  const messages: ChatMessage[] = (Array.isArray(call.body.messages) ? call.body.messages : []).map((message: Record<string, unknown>, i: number) => ({
    role: message?.role === 'tool' || message?.role === 'assistant' || message?.role === 'system' ? message.role : 'user',
    content: textOf(Array.isArray(message?.content) ? message.content.filter((part: { type?: unknown }) => part?.type === 'text') : message?.content, `messages[${i}].content`),
  }));
  const tools = Array.isArray(call.body.tools) ? call.body.tools : [];
  const last = messages[messages.length - 1];
  const tool = (tools[0] as { function?: { name?: unknown; parameters?: unknown } } | undefined)?.function;
  if (tool !== undefined && typeof tool.name === 'string' && call.body.tool_choice !== 'none' && last?.role !== 'tool') {
    return {
      tokens: [],
      finishReason: 'tool_calls',
      usage: answerTo({ messages }).usage,
      toolCall: { id: `call_${call.taskId}_0`, name: tool.name, arguments: JSON.stringify(demoArguments(tool.parameters)) },
    };
  }
  if (last?.role === 'tool') {
    return answerTo({ messages: [...messages, { role: 'user', content: `the tool answered ${last.content}` }], max_tokens: maxTokens });
  }
  return answerTo({ messages, max_tokens: maxTokens });
}

/** Arguments that fit a JSON schema's properties: the first enum value, else a plain value of the type. */
export function demoArguments(schema: unknown): Record<string, unknown> {
  const { properties, required } = (schema ?? {}) as { properties?: Record<string, { type?: unknown; enum?: unknown[] }>; required?: unknown };
  const names = Array.isArray(required) ? (required as string[]) : Object.keys(properties ?? {});
  const args: Record<string, unknown> = {};
  for (const name of names) {
    const property = properties?.[name] ?? {};
    if (Array.isArray(property.enum) && property.enum.length > 0) args[name] = property.enum[0];
    else if (property.type === 'number' || property.type === 'integer') args[name] = 1;
    else if (property.type === 'boolean') args[name] = true;
    else if (property.type === 'array') args[name] = [];
    else if (property.type === 'object') args[name] = {};
    else args[name] = 'demo';
  }
  return args;
}

const EMBEDDING_DIMENSIONS = 8;

/** A unit vector that is a fixed function of the text (FNV-1a per dimension): equal texts, equal vectors. */
export function demoEmbedding(text: string): number[] {
  const vector: number[] = [];
  for (let d = 0; d < EMBEDDING_DIMENSIONS; d++) {
    let hash = 0x811c9dc5 ^ d;
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
    vector.push(((hash >>> 0) / 0xffffffff) * 2 - 1);
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((x) => x / norm);
}

function lastUserMessage(messages: readonly ChatMessage[]): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return messages[i].content;
  return undefined;
}

/** Waits `ms` (0: one turn of the event loop), or rejects with the abort reason as soon as the signal fires. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      if (ms > 0) clearTimeout(timer as NodeJS.Timeout);
      else clearImmediate(timer as NodeJS.Immediate);
      reject(signal.reason);
    };
    const done = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const timer = ms > 0 ? setTimeout(done, ms) : setImmediate(done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
