// Anthropic's Messages API (POST /v1/messages), plain and streamed as SSE, with its answers mapped to OpenAI terms;
// `openai` frames are translated in anthropic-translate.ts (tools, tool results, images, stop sequences).
import type { EventSourceMessage } from 'eventsource-parser';
import type { ProviderConfig } from '../config/schema.ts';
import type { ChatMessage, InferRequest, Usage } from '../protocol/index.ts';
import { HttpProvider, type ProviderOptions } from './http.ts';
import { answersOk } from './readiness.ts';
import { MAX_EVENT_CHARS, type SseReader, sseStream } from './sse-reader.ts';
import { UpstreamCall } from './upstream-call.ts';
import { streamEndedEarly, upstreamErrorMessage } from './upstream-errors.ts';
import { usageOf } from './usage-estimate.ts';
import { anthropicBody, anthropicChoice, DEFAULT_MAX_TOKENS, finishReasonOf } from './anthropic-translate.ts';
import { ChunkWriter, chatCompletion, wantsUsage } from './openai-shapes.ts';
import { type Completion, type LlmProvider, type OpenAiCall, type StreamPiece, UnsupportedField, UpstreamError } from './types.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
export { DEFAULT_MAX_TOKENS };

interface UsageWire {
  input_tokens?: unknown;
  output_tokens?: unknown;
  cache_creation_input_tokens?: unknown;
  cache_read_input_tokens?: unknown;
}
interface MessageWire {
  content?: { type?: unknown; text?: unknown; id?: unknown; name?: unknown; input?: unknown; thinking?: unknown }[];
  stop_reason?: unknown;
  usage?: UsageWire;
}
interface EventWire {
  type?: unknown;
  index?: unknown;
  message?: MessageWire;
  content_block?: { type?: unknown; id?: unknown; name?: unknown };
  delta?: { type?: unknown; text?: unknown; stop_reason?: unknown; partial_json?: unknown; thinking?: unknown };
  usage?: UsageWire;
  error?: unknown;
}

export class AnthropicProvider extends HttpProvider implements LlmProvider {
  readonly type = 'anthropic';

  constructor(config: ProviderConfig, options: ProviderOptions = {}) {
    super(config, options, { 'anthropic-version': ANTHROPIC_VERSION, ...(config.apiKey ? { 'x-api-key': config.apiKey } : {}) });
  }

  isAvailable(signal?: AbortSignal): Promise<boolean> {
    return answersOk(`${this.baseUrl}/v1/models`, this.readinessHeaders, this.readinessTimeoutMs, signal);
  }

  async complete(request: InferRequest, signal: AbortSignal): Promise<Completion> {
    const answer = await this.postForAnswer<MessageWire & { error?: unknown }>('/v1/messages', this.body(request, false), signal);
    let content = '';
    for (const block of answer.content ?? []) if (block.type === 'text' && typeof block.text === 'string') content += block.text;
    return {
      content,
      finishReason: finishReasonOf(answer.stop_reason),
      usage: usageOf(promptTokensOf(answer.usage), count(answer.usage?.output_tokens)),
    };
  }

  async *stream(request: InferRequest, signal: AbortSignal): AsyncGenerator<StreamPiece, void, undefined> {
    const call = new UpstreamCall(`${this.baseUrl}/v1/messages`, signal, this.idleMs);
    const events = new MessagesReader<StreamPiece>({ text: (content) => ({ content }) });
    let clean = false;
    try {
      await call.open({ method: 'POST', headers: this.headers, body: this.body(request, true) });
      yield* sseStream(call, events);
      if (!events.ended && events.stopReason === undefined) throw streamEndedEarly();
      clean = true;
      yield { finishReason: finishReasonOf(events.stopReason), usage: events.usage() };
    } finally {
      call.release(clean);
    }
  }

  async openai(call: OpenAiCall, signal: AbortSignal): Promise<Record<string, unknown>> {
    const body = JSON.stringify(this.nativeBody(call));
    const answer = await this.postForAnswer<MessageWire & { error?: unknown }>('/v1/messages', body, signal);
    return chatCompletion(call, anthropicChoice(answer.content, answer.stop_reason), usageOf(promptTokensOf(answer.usage), count(answer.usage?.output_tokens)));
  }

  async *openaiStream(call: OpenAiCall, signal: AbortSignal): AsyncGenerator<string, void, undefined> {
    const body = JSON.stringify(this.nativeBody(call));
    const upstream = new UpstreamCall(`${this.baseUrl}/v1/messages`, signal, this.idleMs);
    const writer = new ChunkWriter(call);
    const events = new MessagesReader<string>({
      text: (text) => writer.content(text),
      thinking: (text) => writer.reasoning(text),
      toolStart: (index, id, name) => writer.toolCallStart(index, id, name),
      toolArguments: (index, json) => writer.toolCallArguments(index, json),
    });
    let clean = false;
    try {
      await upstream.open({ method: 'POST', headers: this.headers, body });
      yield* sseStream(upstream, events);
      if (!events.ended && events.stopReason === undefined) throw streamEndedEarly();
      clean = true;
      yield writer.finish(finishReasonOf(events.stopReason));
      if (wantsUsage(call.body)) yield writer.usage(events.usage());
    } finally {
      upstream.release(clean);
    }
  }

  private nativeBody(call: OpenAiCall): Record<string, unknown> {
    if (call.endpoint !== 'chat.completions') {
      throw new UnsupportedField('model', `the Messages API has no ${call.endpoint} endpoint: call an OpenAI-compatible or Ollama model for it`);
    }
    return anthropicBody(call, this.model);
  }

  private body(request: InferRequest, stream: boolean): string {
    const { system, messages } = toAnthropicMessages(request.messages);
    return JSON.stringify({
      model: request.model ?? this.model,
      max_tokens: request.max_tokens ?? DEFAULT_MAX_TOKENS,
      ...(system === undefined ? {} : { system }),
      messages,
      temperature: request.temperature,
      stream,
    });
  }
}

/** What a Messages stream's deltas become: text alone (an `infer` stream), or OpenAI chunks of every kind. */
interface MessagesOutput<T> {
  text(text: string): T;
  thinking?(text: string): T;
  /** A `tool_use` block's start: the tool call's first delta (id, name). */
  toolStart?(index: number, id: string, name: string): T;
  /** An `input_json_delta`: the tool call's next arguments. */
  toolArguments?(index: number, json: string): T;
}

/** Turns the Messages stream's events into what `output` makes of them, remembering the stop reason and the token counts. */
class MessagesReader<T> implements SseReader<T> {
  readonly pending: T[] = [];
  failure: UpstreamError | undefined;
  /** Saw `message_stop`. */
  ended = false;
  stopReason: string | undefined;
  private inputTokens = 0;
  private outputTokens = 0;
  /** Content block index → OpenAI tool call index. */
  private readonly toolIndex = new Map<unknown, number>();

  constructor(private readonly output: MessagesOutput<T>) {}

  readonly onEvent = (event: EventSourceMessage): void => {
    if (this.ended || this.failure !== undefined) return;
    let data: EventWire;
    try {
      data = JSON.parse(event.data) as EventWire;
    } catch {
      this.failure = new UpstreamError('protocol', `upstream sent an event that is not JSON: ${JSON.stringify(event.data.slice(0, 200))}`);
      return;
    }
    const { output } = this;
    switch (data.type) {
      case 'content_block_start':
        if (data.content_block?.type === 'tool_use' && output.toolStart) {
          const index = this.toolIndex.size;
          this.toolIndex.set(data.index, index);
          this.pending.push(output.toolStart(index, String(data.content_block.id), String(data.content_block.name)));
        }
        break;
      case 'content_block_delta': {
        const delta = data.delta;
        if (delta?.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') this.pending.push(output.text(delta.text));
        else if (delta?.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking !== '' && output.thinking) this.pending.push(output.thinking(delta.thinking));
        else if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '' && output.toolArguments) {
          const index = this.toolIndex.get(data.index);
          if (index !== undefined) this.pending.push(output.toolArguments(index, delta.partial_json));
        }
        break;
      }
      case 'message_start':
        this.inputTokens = promptTokensOf(data.message?.usage);
        this.outputTokens = count(data.message?.usage?.output_tokens);
        break;
      case 'message_delta':
        if (typeof data.delta?.stop_reason === 'string') this.stopReason = data.delta.stop_reason;
        // Counts in message_delta are cumulative.
        if (data.usage?.output_tokens !== undefined) this.outputTokens = count(data.usage.output_tokens);
        if (data.usage?.input_tokens != null) this.inputTokens = promptTokensOf(data.usage);
        break;
      case 'message_stop':
        this.ended = true;
        break;
      case 'error':
        this.failure = new UpstreamError('protocol', upstreamErrorMessage(data.error) ?? 'upstream reported an error');
        break;
      default:
      // ping, content_block_stop and event types added later carry nothing to relay.
    }
  };

  readonly onError = (error: { type: string }): void => {
    if (error.type === 'max-buffer-size-exceeded' && this.failure === undefined) {
      this.failure = new UpstreamError('protocol', `upstream sent an event larger than ${MAX_EVENT_CHARS} characters`);
    }
  };

  usage(): Usage {
    return usageOf(this.inputTokens, this.outputTokens);
  }
}

/**
 * The Messages API takes the system prompt apart and only `user`/`assistant` turns: system messages are joined into
 * `system`, tool results become user turns, and neighbouring turns of one role are joined.
 */
export function toAnthropicMessages(messages: readonly ChatMessage[]): {
  system: string | undefined;
  messages: { role: 'user' | 'assistant'; content: string }[];
} {
  const system: string[] = [];
  const turns: { role: 'user' | 'assistant'; content: string }[] = [];
  for (const message of messages) {
    if (message.role === 'system') {
      system.push(message.content);
      continue;
    }
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const previous = turns[turns.length - 1];
    if (previous !== undefined && previous.role === role) previous.content += `\n\n${message.content}`;
    else turns.push({ role, content: message.content });
  }
  return { system: system.length === 0 ? undefined : system.join('\n\n'), messages: turns };
}

/** Input tokens as OpenAI counts them: cached prompt tokens are prompt tokens too. */
function promptTokensOf(usage: UsageWire | undefined): number {
  return count(usage?.input_tokens) + count(usage?.cache_creation_input_tokens) + count(usage?.cache_read_input_tokens);
}

function count(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
