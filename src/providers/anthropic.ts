// Anthropic's Messages API (POST /v1/messages), plain and streamed as SSE, with its answers mapped to OpenAI terms.
import type { EventSourceMessage } from 'eventsource-parser';
import type { ProviderConfig } from '../config/schema.ts';
import type { ChatMessage, InferRequest, Usage } from '../protocol/index.ts';
import {
  answersOk,
  HttpProvider,
  MAX_EVENT_CHARS,
  type ProviderOptions,
  type SseReader,
  sseStream,
  streamEndedEarly,
  UpstreamCall,
  upstreamErrorMessage,
  usageOf,
} from './http.ts';
import { type Completion, type LlmProvider, type StreamPiece, UpstreamError } from './types.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
/** The Messages API requires max_tokens; this is what a request without one gets. */
export const DEFAULT_MAX_TOKENS = 1024;

interface UsageWire {
  input_tokens?: unknown;
  output_tokens?: unknown;
  cache_creation_input_tokens?: unknown;
  cache_read_input_tokens?: unknown;
}
interface MessageWire {
  content?: { type?: unknown; text?: unknown }[];
  stop_reason?: unknown;
  usage?: UsageWire;
}
interface EventWire {
  type?: unknown;
  message?: MessageWire;
  delta?: { type?: unknown; text?: unknown; stop_reason?: unknown };
  usage?: UsageWire;
  error?: unknown;
}

/** Anthropic's stop reasons in the OpenAI words the registrar's results carry. */
const FINISH_REASONS = new Map([
  ['end_turn', 'stop'],
  ['stop_sequence', 'stop'],
  ['max_tokens', 'length'],
  ['tool_use', 'tool_calls'],
  ['refusal', 'content_filter'],
]);

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
    const events = new EventReader();
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

/** Turns the Messages stream's events into pieces, remembering the stop reason and the token counts. */
class EventReader implements SseReader {
  readonly pending: StreamPiece[] = [];
  failure: UpstreamError | undefined;
  /** Saw `message_stop`. */
  ended = false;
  stopReason: string | undefined;
  private inputTokens = 0;
  private outputTokens = 0;

  readonly onEvent = (event: EventSourceMessage): void => {
    if (this.ended || this.failure !== undefined) return;
    let data: EventWire;
    try {
      data = JSON.parse(event.data) as EventWire;
    } catch {
      this.failure = new UpstreamError('protocol', `upstream sent an event that is not JSON: ${JSON.stringify(event.data.slice(0, 200))}`);
      return;
    }
    switch (data.type) {
      case 'content_block_delta': {
        const text = data.delta?.text;
        if (data.delta?.type === 'text_delta' && typeof text === 'string' && text !== '') this.pending.push({ content: text });
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
      // ping, content_block_start, content_block_stop and event types added later carry no text.
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

function finishReasonOf(stopReason: unknown): string | null {
  if (typeof stopReason !== 'string') return null;
  return FINISH_REASONS.get(stopReason) ?? stopReason;
}

/** Input tokens as OpenAI counts them: cached prompt tokens are prompt tokens too. */
function promptTokensOf(usage: UsageWire | undefined): number {
  return count(usage?.input_tokens) + count(usage?.cache_creation_input_tokens) + count(usage?.cache_read_input_tokens);
}

function count(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
