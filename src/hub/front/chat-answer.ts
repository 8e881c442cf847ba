// What the front doors read from a chat.completion and its chunks, parsed loosely: the answer comes from a model
// server on someone's workstation, so every field is checked before it is trusted, and what is missing has a default.
import * as v from 'valibot';

const ToolCall = v.looseObject({
  id: v.optional(v.nullable(v.string())),
  function: v.optional(
    v.looseObject({ name: v.optional(v.nullable(v.string())), arguments: v.optional(v.nullable(v.string())) }),
  ),
});

const Usage = v.looseObject({
  prompt_tokens: v.optional(v.nullable(v.number())),
  completion_tokens: v.optional(v.nullable(v.number())),
  prompt_tokens_details: v.optional(v.nullable(v.looseObject({ cached_tokens: v.optional(v.nullable(v.number())) }))),
  completion_tokens_details: v.optional(
    v.nullable(v.looseObject({ reasoning_tokens: v.optional(v.nullable(v.number())) })),
  ),
});

/** vLLM and DeepSeek name the thinking `reasoning_content`; Ollama, LM Studio and OpenRouter name it `reasoning`. */
const Said = {
  content: v.optional(v.nullable(v.string())),
  reasoning_content: v.optional(v.nullable(v.string())),
  reasoning: v.optional(v.nullable(v.string())),
  refusal: v.optional(v.nullable(v.string())),
};

const Completion = v.looseObject({
  choices: v.pipe(
    v.array(
      v.looseObject({
        message: v.looseObject({ ...Said, tool_calls: v.optional(v.nullable(v.array(ToolCall))) }),
        finish_reason: v.optional(v.nullable(v.string())),
        /** vLLM: the stop string that ended the answer. */
        stop_reason: v.optional(v.unknown()),
      }),
    ),
    v.minLength(1),
  ),
  usage: v.optional(v.nullable(Usage)),
});

const Chunk = v.looseObject({
  choices: v.optional(
    v.array(
      v.looseObject({
        index: v.optional(v.number()),
        delta: v.optional(
          v.nullable(
            v.looseObject({
              ...Said,
              tool_calls: v.optional(v.nullable(v.array(v.looseObject({ ...ToolCall.entries, index: v.optional(v.number()) })))),
            }),
          ),
        ),
        finish_reason: v.optional(v.nullable(v.string())),
        stop_reason: v.optional(v.unknown()),
      }),
    ),
  ),
  usage: v.optional(v.nullable(Usage)),
  error: v.optional(v.unknown()),
});

export interface AnswerToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface AnswerUsage {
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/** One chat.completion, reduced to what a front door can express. */
export interface Answer {
  text: string;
  reasoning: string;
  toolCalls: AnswerToolCall[];
  finishReason: string | null;
  stopString?: string;
  usage?: AnswerUsage;
}

export interface ChunkToolDelta {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

/** One chat.completion.chunk, reduced the same way; `error` when the upstream failed mid-stream. */
export interface ChunkDelta {
  text?: string;
  reasoning?: string;
  toolCalls: ChunkToolDelta[];
  finishReason?: string;
  stopString?: string;
  usage?: AnswerUsage;
  error?: string;
}

function usageOf(usage: v.InferOutput<typeof Usage> | null | undefined): AnswerUsage | undefined {
  if (!usage) return undefined;
  return {
    inputTokens: usage.prompt_tokens ?? 0,
    outputTokens: usage.completion_tokens ?? 0,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

export type Read<T> = { ok: true; value: T } | { ok: false; error: string };

export function readCompletion(body: unknown, newToolId: () => string): Read<Answer> {
  const parsed = v.safeParse(Completion, body);
  if (!parsed.success) return { ok: false, error: 'the model answered something that is not a chat.completion' };
  const choice = parsed.output.choices[0];
  const message = choice.message;
  return {
    ok: true,
    value: {
      text: (message.content ?? '') + (message.refusal ?? ''),
      reasoning: message.reasoning_content ?? message.reasoning ?? '',
      toolCalls: (message.tool_calls ?? []).map((call) => ({
        id: call.id || newToolId(),
        name: call.function?.name ?? '',
        arguments: call.function?.arguments ?? '',
      })),
      finishReason: choice.finish_reason ?? null,
      ...(typeof choice.stop_reason === 'string' ? { stopString: choice.stop_reason } : {}),
      usage: usageOf(parsed.output.usage),
    },
  };
}

export function readChunk(chunk: unknown): ChunkDelta {
  const parsed = v.safeParse(Chunk, chunk);
  if (!parsed.success) return { toolCalls: [], error: 'the model streamed something that is not a chat.completion.chunk' };
  const { choices, usage, error } = parsed.output;
  if (error !== undefined) return { toolCalls: [], error: errorText(error) };
  const choice = choices?.find((c) => (c.index ?? 0) === 0);
  const delta = choice?.delta;
  const out: ChunkDelta = { toolCalls: [] };
  const text = (delta?.content ?? '') + (delta?.refusal ?? '');
  if (text) out.text = text;
  const reasoning = delta?.reasoning_content ?? delta?.reasoning;
  if (reasoning) out.reasoning = reasoning;
  for (const call of delta?.tool_calls ?? []) {
    const piece: ChunkToolDelta = { index: call.index ?? 0 };
    if (call.id) piece.id = call.id;
    if (call.function?.name) piece.name = call.function.name;
    if (call.function?.arguments) piece.arguments = call.function.arguments;
    out.toolCalls.push(piece);
  }
  if (choice?.finish_reason) out.finishReason = choice.finish_reason;
  if (typeof choice?.stop_reason === 'string') out.stopString = choice.stop_reason;
  const counted = usageOf(usage);
  if (counted) out.usage = counted;
  return out;
}

function errorText(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  return 'the model failed mid-stream';
}

/** A streamed answer gathered whole, for a caller that did not ask to stream. */
export function gatherChunks(deltas: readonly ChunkDelta[], newToolId: () => string): Read<Answer> {
  const answer: Answer = { text: '', reasoning: '', toolCalls: [], finishReason: null };
  const calls = new Map<number, AnswerToolCall>();
  for (const delta of deltas) {
    if (delta.error !== undefined) return { ok: false, error: delta.error };
    answer.text += delta.text ?? '';
    answer.reasoning += delta.reasoning ?? '';
    for (const piece of delta.toolCalls) {
      const call = calls.get(piece.index) ?? { id: '', name: '', arguments: '' };
      calls.set(piece.index, call);
      if (piece.id && !call.id) call.id = piece.id;
      if (piece.name && !call.name) call.name = piece.name;
      call.arguments += piece.arguments ?? '';
    }
    if (delta.finishReason) answer.finishReason = delta.finishReason;
    if (delta.stopString !== undefined) answer.stopString = delta.stopString;
    if (delta.usage) answer.usage = delta.usage;
  }
  answer.toolCalls = [...calls.values()].map((call) => ({ ...call, id: call.id || newToolId() }));
  return { ok: true, value: answer };
}

/** A whole answer as the one delta that says it all, for a caller that asked to stream. */
export function answerAsDelta(answer: Answer): ChunkDelta {
  return {
    ...(answer.text ? { text: answer.text } : {}),
    ...(answer.reasoning ? { reasoning: answer.reasoning } : {}),
    toolCalls: answer.toolCalls.map((call, index) => ({ index, id: call.id, name: call.name, arguments: call.arguments })),
    ...(answer.finishReason ? { finishReason: answer.finishReason } : {}),
    ...(answer.stopString !== undefined ? { stopString: answer.stopString } : {}),
    ...(answer.usage ? { usage: answer.usage } : {}),
  };
}
