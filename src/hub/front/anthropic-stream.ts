// chat.completion.chunk in, Anthropic's stream events out: one content block at a time (thinking, text, each
// tool_use), opened on its first delta and closed when another begins; message_delta waits for the usage chunk,
// which servers send after the finish_reason.
import type { ChunkDelta } from './chat-answer.ts';
import { anthropicError, stopReasonOf, usageOf, type AnthropicMessageOut } from './anthropic-translate.ts';

export interface AnthropicEvent {
  event: string;
  data: Record<string, unknown>;
}

type OpenBlock = { kind: 'thinking' | 'text' | 'tool' };

interface PendingTool {
  id?: string;
  name?: string;
  /** Arguments that arrived before the name: a tool_use block cannot open without one. */
  early: string;
  blockIndex?: number;
}

export class AnthropicStreamTranslator {
  #blockCount = 0;
  #open: OpenBlock | undefined;
  readonly #tools = new Map<number, PendingTool>();
  #finishReason: string | undefined;
  #stopString: string | undefined;
  #usage: ChunkDelta['usage'];
  #ended = false;

  constructor(
    private readonly context: { id: string; model: string; inputEstimate: number; stopSequences?: readonly string[]; newToolId: () => string },
  ) {}

  /** message_start, then a ping, as Anthropic opens every stream. */
  start(): AnthropicEvent[] {
    const message: AnthropicMessageOut = {
      id: this.context.id,
      type: 'message',
      role: 'assistant',
      model: this.context.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: this.context.inputEstimate, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    return [
      { event: 'message_start', data: { type: 'message_start', message } },
      { event: 'ping', data: { type: 'ping' } },
    ];
  }

  push(delta: ChunkDelta): AnthropicEvent[] {
    if (this.#ended) return [];
    if (delta.error !== undefined) return this.fail(500, delta.error);
    const out: AnthropicEvent[] = [];
    if (delta.reasoning) {
      if (this.#open?.kind !== 'thinking') this.#openBlock(out, { kind: 'thinking' }, { type: 'thinking', thinking: '', signature: '' });
      out.push(this.#delta({ type: 'thinking_delta', thinking: delta.reasoning }));
    }
    if (delta.text) {
      if (this.#open?.kind !== 'text') this.#openBlock(out, { kind: 'text' }, { type: 'text', text: '' });
      out.push(this.#delta({ type: 'text_delta', text: delta.text }));
    }
    for (const piece of delta.toolCalls) this.#toolDelta(out, piece);
    if (delta.finishReason) this.#finishReason = delta.finishReason;
    if (delta.stopString !== undefined) this.#stopString = delta.stopString;
    if (delta.usage) this.#usage = delta.usage;
    return out;
  }

  /** The upstream ended: close the open block, then message_delta (stop reason, usage) and message_stop. */
  finish(): AnthropicEvent[] {
    if (this.#ended) return [];
    this.#ended = true;
    const out: AnthropicEvent[] = [];
    // A tool whose name never came cannot be shown as a tool_use: its arguments go out as text, not lost.
    for (const tool of this.#tools.values()) {
      if (tool.blockIndex === undefined && tool.early) {
        this.#openBlock(out, { kind: 'text' }, { type: 'text', text: '' });
        out.push(this.#delta({ type: 'text_delta', text: tool.early }));
      }
    }
    this.#closeBlock(out);
    const sawTool = [...this.#tools.values()].some((tool) => tool.blockIndex !== undefined);
    const usage = usageOf({ usage: this.#usage }, this.context.inputEstimate);
    out.push({
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: stopReasonOf(this.#finishReason ?? null, sawTool, this.#stopString, this.context.stopSequences ?? []),
        usage,
      },
    });
    out.push({ event: 'message_stop', data: { type: 'message_stop' } });
    return out;
  }

  /** A failure after the stream began: Anthropic's `error` event, and nothing after it. */
  fail(status: number, message: string): AnthropicEvent[] {
    if (this.#ended) return [];
    this.#ended = true;
    return [{ event: 'error', data: anthropicError(status, message) as unknown as Record<string, unknown> }];
  }

  #toolDelta(out: AnthropicEvent[], piece: ChunkDelta['toolCalls'][number]): void {
    let tool = this.#tools.get(piece.index);
    if (!tool) {
      tool = { early: '' };
      this.#tools.set(piece.index, tool);
    }
    if (piece.id && !tool.id) tool.id = piece.id;
    if (piece.name && tool.name === undefined) tool.name = piece.name;
    if (tool.blockIndex === undefined) {
      if (tool.name === undefined) {
        tool.early += piece.arguments ?? '';
        return;
      }
      tool.id ??= this.context.newToolId();
      this.#openBlock(out, { kind: 'tool' }, { type: 'tool_use', id: tool.id, name: tool.name, input: {} });
      tool.blockIndex = this.#blockCount - 1;
      const early = tool.early + (piece.arguments ?? '');
      tool.early = '';
      if (early) out.push(this.#delta({ type: 'input_json_delta', partial_json: early }, tool.blockIndex));
      return;
    }
    // Servers stream parallel calls one after another; a late fragment of an earlier call still names its block.
    if (piece.arguments) out.push(this.#delta({ type: 'input_json_delta', partial_json: piece.arguments }, tool.blockIndex));
  }

  #openBlock(out: AnthropicEvent[], block: OpenBlock, contentBlock: Record<string, unknown>): void {
    this.#closeBlock(out);
    this.#open = block;
    out.push({ event: 'content_block_start', data: { type: 'content_block_start', index: this.#blockCount, content_block: contentBlock } });
    this.#blockCount += 1;
  }

  #closeBlock(out: AnthropicEvent[]): void {
    if (!this.#open) return;
    this.#open = undefined;
    out.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index: this.#blockCount - 1 } });
  }

  #delta(delta: Record<string, unknown>, index = this.#blockCount - 1): AnthropicEvent {
    return { event: 'content_block_delta', data: { type: 'content_block_delta', index, delta } };
  }
}
