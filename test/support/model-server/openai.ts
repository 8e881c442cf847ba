// The OpenAI-compatible dialect (vLLM, llama.cpp, LM Studio): chat completions with tools, logprobs and n, legacy
// completions, embeddings, SSE chunks and the usage chunk.
import { hasMessages, noRefusal, TEST_MODEL, testEmbedding, turnsOf, type Answer, type Wire } from './wire.ts';

export const openAiWire: Wire = {
  baseUrl: (root) => `${root}/v1`,
  chatPath: '/v1/chat/completions',
  readiness: {
    '/v1/models': (script) => ({ object: 'list', data: (script.models ?? [TEST_MODEL]).map((id) => ({ id, object: 'model', created: 0, owned_by: 'llm-registrar-tests' })) }),
    '/health': () => ({ status: 'ok' }),
  },
  streamsByDefault: false,
  streamContentType: 'text/event-stream',
  authorize: noRefusal,
  validate: hasMessages,
  conversation: turnsOf,
  maxTokens: (body) => body.max_tokens ?? body.max_completion_tokens,
  errorBody: (status, message) => ({ error: { message, type: status >= 500 ? 'InternalServerError' : 'BadRequestError', code: status } }),
  // `n` choices (the same answer each), `logprobs` per token when asked, tool calls with JSON-text arguments.
  complete: (a) => ({
    id: a.id,
    object: 'chat.completion',
    created: a.created,
    model: a.model,
    system_fingerprint: 'fp_test',
    choices: Array.from({ length: choiceCount(a) }, (_, index) => ({
      index,
      message:
        a.toolCalls.length > 0
          ? { role: 'assistant', content: null, tool_calls: a.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } })) }
          : { role: 'assistant', content: a.text },
      logprobs: a.request.logprobs === true ? { content: a.tokens.map(tokenLogprob) } : null,
      finish_reason: openAiFinish(a),
    })),
    ...(a.omitUsage ? {} : { usage: openAiUsage(a) }),
  }),
  streamHead: (a) => openAiChunk(a, { role: 'assistant', content: '' }, null) + openAiToolDeltas(a),
  streamToken: (a, token) => openAiChunk(a, { content: token }, null, a.request.logprobs === true ? { content: [tokenLogprob(token)] } : null),
  streamTail: (a) => {
    const wantsUsage = (a.request.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const usage = wantsUsage && !a.omitUsage ? sse({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [], usage: openAiUsage(a) }) : '';
    return `${openAiChunk(a, {}, openAiFinish(a))}${usage}data: [DONE]\n\n`;
  },
  // vLLM's shape: an error object in a data frame, then [DONE] as usual.
  streamError: (_a, message) => `${sse({ error: { message, type: 'InternalServerError', code: 500 } })}data: [DONE]\n\n`,
  embeddings: {
    path: '/v1/embeddings',
    answer: (body) => {
      const inputs = typeof body.input === 'string' ? [body.input] : (body.input as string[]);
      return {
        object: 'list',
        data: inputs.map((text, index) => ({ object: 'embedding', index, embedding: testEmbedding(text) })),
        model: body.model,
        usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
      };
    },
  },
};

function openAiChunk(a: Answer, delta: Record<string, unknown>, finishReason: string | null, logprobs?: unknown): string {
  const choice: Record<string, unknown> = { index: 0, delta, finish_reason: finishReason };
  if (logprobs !== undefined) choice.logprobs = logprobs;
  return sse({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [choice] });
}

const choiceCount = (a: Answer): number => (typeof a.request.n === 'number' ? a.request.n : 1);
const openAiFinish = (a: Answer): string => (a.toolCalls.length > 0 ? 'tool_calls' : a.cut ? 'length' : 'stop');
const tokenLogprob = (token: string) => ({ token, logprob: -0.25, bytes: [...Buffer.from(token)], top_logprobs: [] });

/** Each tool call as OpenAI streams it: id and name first, then its JSON-text arguments in two pieces, by index. */
function openAiToolDeltas(a: Answer): string {
  return a.toolCalls
    .map((call, index) => {
      const args = JSON.stringify(call.arguments);
      const half = Math.floor(args.length / 2);
      return (
        openAiChunk(a, { tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }, null) +
        openAiChunk(a, { tool_calls: [{ index, function: { arguments: args.slice(0, half) } }] }, null) +
        openAiChunk(a, { tool_calls: [{ index, function: { arguments: args.slice(half) } }] }, null)
      );
    })
    .join('');
}

/** POST /v1/completions: a text_completion, streamed as text_completion chunks. */
const openAiCompletionWire: Wire = {
  baseUrl: (root) => `${root}/v1`,
  chatPath: '/v1/completions',
  readiness: {},
  streamsByDefault: false,
  streamContentType: 'text/event-stream',
  authorize: noRefusal,
  validate: (body) => (typeof body.prompt === 'string' ? undefined : { status: 400, message: 'prompt must be a string' }),
  conversation: (body) => [{ role: 'user', content: String(body.prompt) + (typeof body.suffix === 'string' ? ` … ${body.suffix}` : '') }],
  maxTokens: (body) => body.max_tokens,
  errorBody: (status, message) => ({ error: { message, type: 'BadRequestError', code: status } }),
  complete: (a) => ({
    id: a.id,
    object: 'text_completion',
    created: a.created,
    model: a.model,
    choices: [{ index: 0, text: a.text, logprobs: null, finish_reason: a.cut ? 'length' : 'stop' }],
    ...(a.omitUsage ? {} : { usage: openAiUsage(a) }),
  }),
  streamHead: () => '',
  streamToken: (a, token) => sse({ id: a.id, object: 'text_completion', created: a.created, model: a.model, choices: [{ index: 0, text: token, logprobs: null, finish_reason: null }] }),
  streamTail: (a) => `${sse({ id: a.id, object: 'text_completion', created: a.created, model: a.model, choices: [{ index: 0, text: '', logprobs: null, finish_reason: a.cut ? 'length' : 'stop' }] })}data: [DONE]\n\n`,
  streamError: (_a, message) => `${sse({ error: { message, type: 'InternalServerError', code: 500 } })}data: [DONE]\n\n`,
};

function openAiUsage(a: Answer) {
  return { prompt_tokens: a.promptTokens, completion_tokens: a.tokens.length, total_tokens: a.promptTokens + a.tokens.length };
}

openAiWire.also = openAiCompletionWire;

function sse(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}
