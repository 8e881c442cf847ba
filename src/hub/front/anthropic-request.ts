// The Messages request a caller sends to POST /v1/messages (and /count_tokens), parsed at the edge. Blocks are loose
// here: the translator names the path of a block it cannot carry, which a schema union would only say "invalid".
import * as v from 'valibot';

const Block = v.looseObject({ type: v.pipe(v.string(), v.minLength(1)) });
export type AnthropicBlock = v.InferOutput<typeof Block> & Record<string, unknown>;

const TextBlock = v.looseObject({ type: v.literal('text'), text: v.string() });

export const AnthropicMessage = v.object({
  /** `system` turns mid-conversation are new in the Messages API (Claude Code sends them). */
  role: v.picklist(['user', 'assistant', 'system']),
  content: v.union([v.string(), v.array(Block)], 'Invalid content: expected a string or an array of content blocks'),
});

const Tool = v.looseObject({ name: v.pipe(v.string(), v.minLength(1)), type: v.optional(v.nullable(v.string())) });

const ToolChoice = v.variant('type', [
  v.looseObject({ type: v.literal('auto'), disable_parallel_tool_use: v.optional(v.boolean()) }),
  v.looseObject({ type: v.literal('any'), disable_parallel_tool_use: v.optional(v.boolean()) }),
  v.looseObject({ type: v.literal('tool'), name: v.string(), disable_parallel_tool_use: v.optional(v.boolean()) }),
  v.looseObject({ type: v.literal('none') }),
]);

const Thinking = v.variant('type', [
  v.looseObject({ type: v.literal('enabled'), budget_tokens: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
  v.looseObject({ type: v.literal('adaptive') }),
  v.looseObject({ type: v.literal('disabled') }),
  v.looseObject({ type: v.literal('between_tools') }),
]);

const Common = {
  // Bounded as on the chat door: the name is echoed in errors.
  model: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  messages: v.pipe(v.array(AnthropicMessage), v.minLength(1)),
  system: v.optional(v.union([v.string(), v.array(TextBlock)], 'Invalid system: expected a string or an array of text blocks')),
  tools: v.optional(v.array(Tool)),
  tool_choice: v.optional(ToolChoice),
  thinking: v.optional(Thinking),
  output_config: v.optional(
    v.looseObject({
      effort: v.optional(v.nullable(v.string())),
      format: v.optional(v.nullable(v.looseObject({ type: v.literal('json_schema'), schema: v.record(v.string(), v.unknown()) }))),
    }),
  ),
};

export const MessagesRequest = v.looseObject({
  ...Common,
  max_tokens: v.pipe(v.number(), v.integer(), v.minValue(1)),
  stream: v.optional(v.boolean()),
  stop_sequences: v.optional(v.array(v.string())),
  temperature: v.optional(v.number()),
  top_p: v.optional(v.number()),
  top_k: v.optional(v.pipe(v.number(), v.integer())),
  metadata: v.optional(v.looseObject({ user_id: v.optional(v.nullable(v.string())) })),
});
export type MessagesRequest = v.InferOutput<typeof MessagesRequest>;

export const CountTokensRequest = v.looseObject(Common);
export type CountTokensRequest = v.InferOutput<typeof CountTokensRequest>;
