// Ollama's native dialect: /api/chat and /api/generate as NDJSON (unless `stream: false`), /api/embed, object tool
// arguments, `thinking`.
import { hasMessages, noRefusal, TEST_MODEL, testEmbedding, turnsOf, type Answer, type Wire } from './wire.ts';

export const ollamaWire: Wire = {
  baseUrl: (root) => root,
  chatPath: '/api/chat',
  readiness: {
    '/api/version': () => ({ version: '0.6.0' }),
    '/api/tags': (script) => ({ models: (script.models ?? [TEST_MODEL]).map((name) => ({ name, model: name, modified_at: '2025-01-01T00:00:00Z', size: 1, digest: 'sha256:0' })) }),
  },
  streamsByDefault: true,
  streamContentType: 'application/x-ndjson',
  authorize: noRefusal,
  validate: hasMessages,
  conversation: turnsOf,
  maxTokens: (body) => (body.options as { num_predict?: unknown } | undefined)?.num_predict,
  errorBody: (_status, message) => ({ error: message }),
  complete: (a) => ollamaLine(a, a.text, true),
  // Ollama streams each tool call whole, in one line, before the done line.
  streamHead: (a) =>
    (a.thinking ? `${JSON.stringify({ ...ollamaLine(a, '', false), message: { role: 'assistant', content: '', thinking: a.thinking } })}\n` : '') +
    (a.toolCalls.length > 0 ? `${JSON.stringify({ ...ollamaLine(a, '', false), message: { role: 'assistant', content: '', tool_calls: ollamaToolCalls(a) } })}\n` : ''),
  streamToken: (a, token) => `${JSON.stringify(ollamaLine(a, token, false))}\n`,
  streamTail: (a) => `${JSON.stringify(ollamaLine(a, '', true))}\n`,
  streamError: (_a, message) => `${JSON.stringify({ error: message })}\n`,
};

/** Ollama's tool calls: arguments as an object, no id. */
const ollamaToolCalls = (a: Answer) => a.toolCalls.map((call) => ({ function: { name: call.name, arguments: call.arguments } }));

function ollamaLine(a: Answer, content: string, done: boolean): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content };
  if (done && a.request.stream === false && a.toolCalls.length > 0) message.tool_calls = ollamaToolCalls(a);
  if (done && a.request.stream === false && a.thinking) message.thinking = a.thinking;
  const line: Record<string, unknown> = {
    model: a.model,
    created_at: new Date(a.created * 1000).toISOString(),
    message,
    done,
  };
  if (done) {
    line.done_reason = a.cut ? 'length' : 'stop';
    line.total_duration = 1_000_000;
    if (!a.omitUsage) {
      line.prompt_eval_count = a.promptTokens;
      line.eval_count = a.tokens.length;
    }
  }
  return line;
}

/** POST /api/generate: `response` text, NDJSON unless `stream: false`. */
const ollamaGenerateWire: Wire = {
  ...ollamaWire,
  chatPath: '/api/generate',
  readiness: {},
  validate: (body) => (typeof body.prompt === 'string' ? undefined : { status: 400, message: 'prompt must be a string' }),
  conversation: (body) => [{ role: 'user', content: String(body.prompt) + (typeof body.suffix === 'string' ? ` … ${body.suffix}` : '') }],
  complete: (a) => generateLine(a, a.text, true),
  streamHead: () => '',
  streamToken: (a, token) => `${JSON.stringify(generateLine(a, token, false))}\n`,
  streamTail: (a) => `${JSON.stringify(generateLine(a, '', true))}\n`,
};

function generateLine(a: Answer, text: string, done: boolean): Record<string, unknown> {
  const { message: _message, ...line } = ollamaLine(a, '', done);
  return { ...line, response: text };
}

ollamaWire.also = ollamaGenerateWire;
ollamaWire.embeddings = {
  path: '/api/embed',
  answer: (body) => {
    const inputs = typeof body.input === 'string' ? [body.input] : (body.input as string[]);
    return { model: body.model, embeddings: inputs.map(testEmbedding), total_duration: 1000, prompt_eval_count: inputs.length };
  },
};
