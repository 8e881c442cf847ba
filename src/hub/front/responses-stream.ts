// chat.completion.chunk in, the Responses API's typed stream events out: response.created, then one output item at
// a time (reasoning, message, each function_call) with its deltas and its done events, then response.completed
// (or .incomplete) with usage, which servers send after the finish_reason.
import type { Answer, ChunkDelta } from './chat-answer.ts';
import { responseObject, statusOf, type ItemIds, type OutputItem, type ResponseObject, type ToolNaming } from './responses-translate.ts';

export interface ResponsesEvent {
  type: string;
  sequence_number: number;
  [key: string]: unknown;
}

type Open =
  | { kind: 'reasoning'; index: number; id: string; text: string }
  | { kind: 'message'; index: number; id: string; text: string }
  | { kind: 'call'; index: number; toolIndex: number };

interface Call {
  id?: string;
  callId?: string;
  name?: string;
  arguments: string;
  outputIndex?: number;
}

export class ResponsesStreamTranslator {
  #sequence = 0;
  #open: Open | undefined;
  readonly #output: OutputItem[] = [];
  readonly #calls = new Map<number, Call>();
  readonly #answer: Answer = { text: '', reasoning: '', toolCalls: [], finishReason: null };
  #ended = false;

  constructor(
    private readonly context: { id: string; createdAt: number; echo: Record<string, unknown>; ids: ItemIds; naming: ToolNaming; newCallId: () => string },
  ) {}

  /** The answer as gathered so far (whole once finish() ran): what a stored response remembers. */
  get answer(): Answer {
    return {
      ...this.#answer,
      toolCalls: [...this.#calls.values()].filter((call) => call.outputIndex !== undefined).map((call) => ({ id: call.callId!, name: call.name!, arguments: call.arguments })),
    };
  }

  start(): ResponsesEvent[] {
    const response = this.#response('in_progress');
    return [this.#event('response.created', { response }), this.#event('response.in_progress', { response })];
  }

  push(delta: ChunkDelta): ResponsesEvent[] {
    if (this.#ended) return [];
    if (delta.error !== undefined) return this.fail(delta.error);
    const out: ResponsesEvent[] = [];
    if (delta.reasoning) {
      this.#answer.reasoning += delta.reasoning;
      const open = this.#open?.kind === 'reasoning' ? this.#open : this.#openReasoning(out);
      open.text += delta.reasoning;
      out.push(this.#event('response.reasoning_text.delta', { item_id: open.id, output_index: open.index, content_index: 0, delta: delta.reasoning }));
    }
    if (delta.text) {
      this.#answer.text += delta.text;
      const open = this.#open?.kind === 'message' ? this.#open : this.#openMessage(out);
      open.text += delta.text;
      out.push(this.#event('response.output_text.delta', { item_id: open.id, output_index: open.index, content_index: 0, delta: delta.text, logprobs: [] }));
    }
    for (const piece of delta.toolCalls) this.#callDelta(out, piece);
    if (delta.finishReason) this.#answer.finishReason = delta.finishReason;
    if (delta.usage) this.#answer.usage = delta.usage;
    return out;
  }

  finish(): { events: ResponsesEvent[]; response: ResponseObject } {
    if (this.#ended) return { events: [], response: this.#response('failed') };
    const out: ResponsesEvent[] = [];
    // A call whose name never came cannot be shown as a function_call: its arguments go out as text, not lost.
    for (const call of this.#calls.values()) {
      if (call.outputIndex === undefined && call.arguments) out.push(...this.push({ text: call.arguments, toolCalls: [] }));
    }
    this.#ended = true;
    this.#close(out);
    const { status, incomplete_details } = statusOf(this.#answer.finishReason);
    const response = this.#response(status, incomplete_details);
    out.push(this.#event(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response }));
    return { events: out, response };
  }

  /** A failure after the stream began: response.failed, and nothing after it. */
  fail(message: string): ResponsesEvent[] {
    if (this.#ended) return [];
    this.#ended = true;
    const response = this.#response('failed', null, { code: 'server_error', message });
    return [this.#event('response.failed', { response })];
  }

  #response(status: ResponseObject['status'], incompleteDetails: { reason: string } | null = null, error?: { code: string; message: string }): ResponseObject {
    return responseObject({
      id: this.context.id,
      createdAt: this.context.createdAt,
      echo: this.context.echo,
      status,
      incompleteDetails,
      output: status === 'in_progress' ? [] : structuredClone(this.#output),
      ...(this.#answer.usage && status !== 'in_progress' ? { usage: this.#answer.usage } : {}),
      ...(error ? { error } : {}),
    });
  }

  #event(type: string, fields: Record<string, unknown>): ResponsesEvent {
    return { type, sequence_number: this.#sequence++, ...fields };
  }

  #add(out: ResponsesEvent[], item: OutputItem): number {
    this.#close(out);
    const index = this.#output.length;
    this.#output.push(item);
    out.push(this.#event('response.output_item.added', { output_index: index, item: structuredClone(item) }));
    return index;
  }

  #openReasoning(out: ResponsesEvent[]): Extract<Open, { kind: 'reasoning' }> {
    const id = this.context.ids.reasoning();
    const index = this.#add(out, { type: 'reasoning', id, summary: [], content: [], status: 'in_progress' });
    out.push(this.#event('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: { type: 'reasoning_text', text: '' } }));
    const open = { kind: 'reasoning' as const, index, id, text: '' };
    this.#open = open;
    return open;
  }

  #openMessage(out: ResponsesEvent[]): Extract<Open, { kind: 'message' }> {
    const id = this.context.ids.message();
    const index = this.#add(out, { type: 'message', id, status: 'in_progress', role: 'assistant', content: [] });
    out.push(this.#event('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } }));
    const open = { kind: 'message' as const, index, id, text: '' };
    this.#open = open;
    return open;
  }

  #callDelta(out: ResponsesEvent[], piece: ChunkDelta['toolCalls'][number]): void {
    let call = this.#calls.get(piece.index);
    if (!call) {
      call = { arguments: '' };
      this.#calls.set(piece.index, call);
    }
    if (piece.id && !call.callId) call.callId = piece.id;
    if (piece.name && call.name === undefined) call.name = piece.name;
    call.arguments += piece.arguments ?? '';
    if (call.outputIndex === undefined) {
      // An item cannot be announced without its name: arguments that came first wait for it.
      if (call.name === undefined) return;
      call.callId ??= this.context.newCallId();
      call.id = this.context.ids.call();
      const item: OutputItem = { type: 'function_call', id: call.id, call_id: call.callId, ...this.context.naming.fromChat(call.name), arguments: '', status: 'in_progress' };
      call.outputIndex = this.#add(out, item);
      this.#open = { kind: 'call', index: call.outputIndex, toolIndex: piece.index };
      if (call.arguments) out.push(this.#event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: call.arguments }));
      return;
    }
    // Servers stream parallel calls one after another; a late fragment of an earlier call still names its item.
    if (piece.arguments) {
      const item = this.#output[call.outputIndex];
      if (item?.type === 'function_call') item.arguments = call.arguments;
      out.push(this.#event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: piece.arguments }));
    }
  }

  #close(out: ResponsesEvent[]): void {
    const open = this.#open;
    if (!open) return;
    this.#open = undefined;
    const item = this.#output[open.index]!;
    if (open.kind === 'reasoning' && item.type === 'reasoning') {
      const part = { type: 'reasoning_text' as const, text: open.text };
      item.content = [part];
      item.status = 'completed';
      out.push(this.#event('response.reasoning_text.done', { item_id: open.id, output_index: open.index, content_index: 0, text: open.text }));
      out.push(this.#event('response.content_part.done', { item_id: open.id, output_index: open.index, content_index: 0, part }));
    } else if (open.kind === 'message' && item.type === 'message') {
      const part = { type: 'output_text' as const, text: open.text, annotations: [] as never[], logprobs: [] as never[] };
      item.content = [part];
      item.status = 'completed';
      out.push(this.#event('response.output_text.done', { item_id: open.id, output_index: open.index, content_index: 0, text: open.text, logprobs: [] }));
      out.push(this.#event('response.content_part.done', { item_id: open.id, output_index: open.index, content_index: 0, part }));
    } else if (open.kind === 'call' && item.type === 'function_call') {
      const call = this.#calls.get(open.toolIndex)!;
      item.arguments = call.arguments;
      item.status = 'completed';
      out.push(this.#event('response.function_call_arguments.done', { item_id: item.id, output_index: open.index, name: item.name, arguments: item.arguments }));
    }
    out.push(this.#event('response.output_item.done', { output_index: open.index, item: structuredClone(item) }));
  }
}
