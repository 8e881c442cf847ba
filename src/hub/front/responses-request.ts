// The Responses request a caller sends to POST /v1/responses, parsed at the edge. Items and tools stay loose here:
// the translator names the path of one it cannot carry.
import * as v from 'valibot';

const Item = v.looseObject({ type: v.optional(v.string()), role: v.optional(v.string()) });
export type ResponsesItem = v.InferOutput<typeof Item> & Record<string, unknown>;

const Tool = v.looseObject({ type: v.pipe(v.string(), v.minLength(1)) });
export type ResponsesTool = v.InferOutput<typeof Tool> & Record<string, unknown>;

const Format = v.variant('type', [
  v.looseObject({ type: v.literal('text') }),
  v.looseObject({ type: v.literal('json_object') }),
  v.looseObject({
    type: v.literal('json_schema'),
    name: v.pipe(v.string(), v.minLength(1)),
    schema: v.record(v.string(), v.unknown()),
    description: v.optional(v.string()),
    strict: v.optional(v.nullable(v.boolean())),
  }),
]);

export const ResponsesRequest = v.looseObject({
  // Bounded as on the chat door: the name is echoed in errors.
  model: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  input: v.union([v.string(), v.array(Item)], 'Invalid input: expected a string or an array of input items'),
  instructions: v.optional(v.nullable(v.string())),
  tools: v.optional(v.array(Tool)),
  tool_choice: v.optional(v.union([v.picklist(['none', 'auto', 'required']), v.looseObject({ type: v.string(), name: v.optional(v.string()) })])),
  parallel_tool_calls: v.optional(v.nullable(v.boolean())),
  max_output_tokens: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1)))),
  temperature: v.optional(v.nullable(v.number())),
  top_p: v.optional(v.nullable(v.number())),
  text: v.optional(v.looseObject({ format: v.optional(Format), verbosity: v.optional(v.nullable(v.string())) })),
  reasoning: v.optional(v.nullable(v.looseObject({ effort: v.optional(v.nullable(v.string())), summary: v.optional(v.nullable(v.string())) }))),
  stream: v.optional(v.nullable(v.boolean())),
  store: v.optional(v.nullable(v.boolean())),
  previous_response_id: v.optional(v.nullable(v.pipe(v.string(), v.minLength(1), v.maxLength(200)))),
  metadata: v.optional(v.nullable(v.record(v.string(), v.string()))),
  user: v.optional(v.string()),
  safety_identifier: v.optional(v.nullable(v.string())),
});
export type ResponsesRequest = v.InferOutput<typeof ResponsesRequest>;
