// OpenAI chat envelopes as the hub's callers and the registrar's results carry them (SPEC.md, "Task result").
import * as v from 'valibot';

export const ChatRole = v.picklist(['system', 'user', 'assistant', 'tool']);

export const ChatMessage = v.object({
  role: ChatRole,
  content: v.string(),
});
export type ChatMessage = v.InferOutput<typeof ChatMessage>;

const MaxTokensField = v.pipe(v.number(), v.integer(), v.minValue(1));

/** What the hub forwards to the registrar inside an infer frame. */
export const InferRequest = v.object({
  messages: v.array(ChatMessage),
  temperature: v.optional(v.number()),
  max_tokens: v.optional(MaxTokensField),
  model: v.optional(v.string()),
});
export type InferRequest = v.InferOutput<typeof InferRequest>;

const TextPart = v.looseObject({ type: v.literal('text'), text: v.string() });

/**
 * A message as OpenAI clients send it: content as a string, as text parts, or null (an assistant turn that only
 * called tools); `developer` is the newer name of `system`. Normalised to the plain ChatMessage the wire carries.
 */
export const CallerMessage = v.pipe(
  v.looseObject({
    role: v.picklist(['system', 'developer', 'user', 'assistant', 'tool']),
    content: v.union(
      [v.string(), v.null(), v.array(TextPart)],
      'Invalid content: expected a string, null, or an array of parts; only text parts ({"type":"text","text":…}) are supported',
    ),
  }),
  v.transform(({ role, content }): ChatMessage => ({
    role: role === 'developer' ? 'system' : role,
    content: typeof content === 'string' ? content : content === null ? '' : content.map((part) => part.text).join(''),
  })),
);

/** A caller's `POST /v1/chat/completions` body: the infer request plus `stream`; unknown fields pass through. */
export const ChatCompletionRequest = v.pipe(
  v.looseObject({
    model: v.pipe(v.string(), v.minLength(1)),
    messages: v.pipe(v.array(CallerMessage), v.minLength(1)),
    stream: v.optional(v.boolean()),
    temperature: v.optional(v.number()),
    max_tokens: v.optional(MaxTokensField),
    /** The newer OpenAI name of max_tokens. */
    max_completion_tokens: v.optional(MaxTokensField),
  }),
  v.transform(({ max_completion_tokens, ...body }) =>
    body.max_tokens === undefined && max_completion_tokens !== undefined ? { ...body, max_tokens: max_completion_tokens } : body,
  ),
);
export type ChatCompletionRequest = v.InferOutput<typeof ChatCompletionRequest>;

export const FinishReason = v.nullable(v.string());

export const Usage = v.object({
  prompt_tokens: v.number(),
  completion_tokens: v.number(),
  total_tokens: v.number(),
});
export type Usage = v.InferOutput<typeof Usage>;

export const ChatCompletion = v.looseObject({
  id: v.string(),
  object: v.literal('chat.completion'),
  created: v.number(),
  model: v.string(),
  choices: v.pipe(
    v.array(
      v.looseObject({
        index: v.number(),
        message: v.looseObject({ role: v.literal('assistant'), content: v.nullable(v.string()) }),
        finish_reason: FinishReason,
      }),
    ),
    v.minLength(1),
  ),
  usage: v.optional(Usage),
});
export type ChatCompletion = v.InferOutput<typeof ChatCompletion>;

export const ChatCompletionChunk = v.looseObject({
  id: v.string(),
  object: v.literal('chat.completion.chunk'),
  created: v.number(),
  model: v.string(),
  choices: v.array(
    v.looseObject({
      index: v.number(),
      delta: v.looseObject({ role: v.optional(v.string()), content: v.optional(v.nullable(v.string())) }),
      finish_reason: FinishReason,
    }),
  ),
});
export type ChatCompletionChunk = v.InferOutput<typeof ChatCompletionChunk>;

export function completionEnvelope(args: {
  id: string;
  model: string;
  content: string;
  finishReason: string | null;
  usage: Usage;
  created?: number;
}): ChatCompletion {
  return {
    id: args.id,
    object: 'chat.completion',
    created: args.created ?? Math.floor(Date.now() / 1000),
    model: args.model,
    choices: [{ index: 0, message: { role: 'assistant', content: args.content }, finish_reason: args.finishReason }],
    usage: args.usage,
  };
}

export function chunkEnvelope(args: {
  id: string;
  model: string;
  content?: string;
  role?: 'assistant';
  finishReason?: string | null;
  created?: number;
}): ChatCompletionChunk {
  const delta: { role?: string; content?: string } = {};
  if (args.role) delta.role = args.role;
  if (args.content !== undefined) delta.content = args.content;
  return {
    id: args.id,
    object: 'chat.completion.chunk',
    created: args.created ?? Math.floor(Date.now() / 1000),
    model: args.model,
    choices: [{ index: 0, delta, finish_reason: args.finishReason ?? null }],
  };
}
