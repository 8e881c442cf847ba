// Anthropic's Messages dialect: x-api-key and anthropic-version required, `tool_use` blocks, SSE events with
// `input_json_delta`.
import { TEST_MODEL, turnsOf, type Wire } from './wire.ts';

export const anthropicWire: Wire = {
  baseUrl: (root) => root,
  chatPath: '/v1/messages',
  readiness: {
    '/v1/models': () => ({
      data: [{ type: 'model', id: TEST_MODEL, display_name: 'Test Model', created_at: '2025-01-01T00:00:00Z' }],
      has_more: false,
      first_id: TEST_MODEL,
      last_id: TEST_MODEL,
    }),
  },
  streamsByDefault: false,
  streamContentType: 'text/event-stream',
  authorize: (req) => {
    if (!req.headers['x-api-key']) return { status: 401, message: 'x-api-key header is required' };
    if (!req.headers['anthropic-version']) return { status: 400, message: 'anthropic-version: header is required' };
    return undefined;
  },
  validate: (body) => {
    if (typeof body.max_tokens !== 'number') return { status: 400, message: 'max_tokens: Field required' };
    if (!Array.isArray(body.messages)) return { status: 400, message: 'messages: Field required' };
    for (const turn of turnsOf(body)) {
      if (turn.role !== 'user' && turn.role !== 'assistant') {
        return { status: 400, message: `messages: Unexpected role "${turn.role}". The Messages API accepts a top-level \`system\` parameter, not "system" as an input message role.` };
      }
    }
    return undefined;
  },
  conversation: (body) => (typeof body.system === 'string' ? [{ role: 'system', content: body.system }, ...turnsOf(body)] : turnsOf(body)),
  maxTokens: (body) => body.max_tokens,
  errorBody: (status, message) => ({ type: 'error', error: { type: anthropicErrorType(status), message } }),
  complete: (a) => ({
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content: a.toolCalls.length > 0 ? a.toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: call.arguments })) : [{ type: 'text', text: a.text }],
    stop_reason: a.toolCalls.length > 0 ? 'tool_use' : a.cut ? 'max_tokens' : 'end_turn',
    stop_sequence: null,
    usage: a.omitUsage ? {} : { input_tokens: a.promptTokens, output_tokens: a.tokens.length },
  }),
  streamHead: (a) =>
    anthropicEvent('message_start', {
      message: {
        id: a.id,
        type: 'message',
        role: 'assistant',
        content: [],
        model: a.model,
        stop_reason: null,
        stop_sequence: null,
        usage: a.omitUsage ? {} : { input_tokens: a.promptTokens, output_tokens: 1 },
      },
    }) +
    anthropicEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
    anthropicEvent('ping', {}),
  streamToken: (_a, token) => anthropicEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text: token } }),
  // Each tool call as its own content block after the text: its start, its input as JSON text in two pieces, its stop.
  streamTail: (a) =>
    anthropicEvent('content_block_stop', { index: 0 }) +
    a.toolCalls
      .map((call, i) => {
        const json = JSON.stringify(call.arguments);
        const half = Math.floor(json.length / 2);
        return (
          anthropicEvent('content_block_start', { index: i + 1, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } }) +
          anthropicEvent('content_block_delta', { index: i + 1, delta: { type: 'input_json_delta', partial_json: json.slice(0, half) } }) +
          anthropicEvent('content_block_delta', { index: i + 1, delta: { type: 'input_json_delta', partial_json: json.slice(half) } }) +
          anthropicEvent('content_block_stop', { index: i + 1 })
        );
      })
      .join('') +
    anthropicEvent('message_delta', {
      delta: { stop_reason: a.toolCalls.length > 0 ? 'tool_use' : a.cut ? 'max_tokens' : 'end_turn', stop_sequence: null },
      usage: a.omitUsage ? {} : { output_tokens: a.tokens.length },
    }) +
    anthropicEvent('message_stop', {}),
  streamError: (_a, message) => anthropicEvent('error', { error: { type: 'overloaded_error', message } }),
};

function anthropicEvent(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}
