// A chat call for a row whose registrar speaks the base wire only (SPEC.md §5): the infer request it can carry, or
// the first field it cannot carry faithfully, so the caller hears a 400 naming it instead of an answer to another
// question. Pure.
import { ChatCompletionRequest, parseWith, type InferRequest } from '../../protocol/index.ts';

export type LegacyCall = { ok: true; request: InferRequest; body: ChatCompletionRequest } | { ok: false; param: string; message: string };

/** Fields that do not change the answer: carried as nothing. */
const HARMLESS = new Set(['model', 'messages', 'stream', 'stream_options', 'temperature', 'max_tokens', 'max_completion_tokens', 'user', 'metadata', 'store']);

/** Fields that may be sent at the value that means "as if absent". */
const AT_DEFAULT: Record<string, (value: unknown) => boolean> = {
  n: (value) => value === 1,
  logprobs: (value) => value === false,
  top_p: (value) => value === 1,
  frequency_penalty: (value) => value === 0,
  presence_penalty: (value) => value === 0,
  stop: (value) => (Array.isArray(value) && value.length === 0),
  tools: (value) => Array.isArray(value) && value.length === 0,
  tool_choice: (value) => value === 'none' || value === 'auto',
  parallel_tool_calls: () => true,
  logit_bias: (value) => isRecord(value) && Object.keys(value).length === 0,
  response_format: (value) => isRecord(value) && value.type === 'text' && Object.keys(value).length === 1,
  modalities: (value) => Array.isArray(value) && value.length === 1 && value[0] === 'text',
};

/** What a message may hold beyond role and content without the base wire losing it. */
const MESSAGE_AT_DEFAULT: Record<string, (value: unknown) => boolean> = {
  tool_calls: (value) => Array.isArray(value) && value.length === 0,
  refusal: (value) => value === null,
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse(param: string, what: string): LegacyCall {
  return { ok: false, param, message: `${what} cannot be carried to this model: its registrar speaks the base wire only (text messages, temperature, max_tokens); leave it out, or publish the model with a registrar that speaks openai.v1` };
}

export function legacyCall(body: Record<string, unknown>): LegacyCall {
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined || value === null || HARMLESS.has(field)) continue;
    const atDefault = AT_DEFAULT[field];
    if (!atDefault?.(value)) return refuse(field, `'${field}'`);
  }
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const [index, message] of messages.entries()) {
    if (!isRecord(message)) continue;
    if (message.role === 'tool') return refuse(`messages[${index}].role`, `a tool message (messages[${index}])`);
    for (const [field, value] of Object.entries(message)) {
      if (field === 'role' || field === 'content' || value === undefined || value === null) continue;
      if (!MESSAGE_AT_DEFAULT[field]?.(value)) return refuse(`messages[${index}].${field}`, `'messages[${index}].${field}'`);
    }
    if (Array.isArray(message.content)) {
      for (const [part, piece] of message.content.entries()) {
        if (isRecord(piece) && piece.type !== 'text') {
          return refuse(`messages[${index}].content[${part}]`, `a '${String(piece.type)}' part (messages[${index}].content[${part}]; only text parts are supported)`);
        }
      }
    }
  }
  const parsed = parseWith(ChatCompletionRequest, body);
  if (!parsed.ok) return { ok: false, param: parsed.error.split(':')[0] ?? '', message: parsed.error };
  const { messages: turns, temperature, max_tokens } = parsed.value;
  return {
    ok: true,
    body: parsed.value,
    request: { messages: turns, ...(temperature === undefined ? {} : { temperature }), ...(max_tokens === undefined ? {} : { max_tokens }) },
  };
}
