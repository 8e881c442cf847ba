// Scriptable model servers on 127.0.0.1 that speak the real upstream wires (OpenAI-compatible, Ollama native,
// Anthropic Messages), for every integration and fault test: a script says how the "model" behaves, and the server
// counts what it saw (requests, clients that went away, calls in flight, TCP connections).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChatTurn {
  role: string;
  content: string;
}

export interface ModelScript {
  /** The model's whole answer to a conversation; default: {@link echoReply}. */
  reply?: (messages: ChatTurn[]) => string;
  /** Pause before each token (streamed or not: a plain answer waits for all of them). Default 0. */
  tokenDelayMs?: number;
  /** Answer every chat call with this HTTP status and the wire's error body. */
  failWith?: number;
  /** Accept chat calls and never answer them. */
  hang?: boolean;
  /** Stream N tokens, then report an error inside the 200 stream (a plain answer fails with 500 instead). */
  errorMidStreamAfter?: number;
  /** Send N tokens, then destroy the socket (a plain answer is cut after N token delays). */
  closeMidStreamAfter?: number;
  /** Readiness endpoints and chat calls answer 503, as a server still loading its model does. */
  notReady?: boolean;
  /** The models the server lists (OpenAI /v1/models, Ollama /api/tags); default [TEST_MODEL]. */
  models?: string[];
  /** Leave token counts out of answers, as some OpenAI-compatible servers and cached Ollama prompts do. */
  omitUsage?: boolean;
  /**
   * Call these tools instead of answering in text, when the request offers tools and its last turn is not a tool's
   * result: each wire speaks them its own way (OpenAI: JSON-text arguments, streamed as deltas by index; Ollama: object
   * arguments; Anthropic: `tool_use` blocks, streamed as `input_json_delta`).
   */
  toolCalls?: { name: string; arguments: Record<string, unknown> }[];
  /** What a thinking model thinks before it answers, when the request asks (Ollama: `think`; its `thinking` field). */
  thinking?: string;
  /**
   * Holds each chat call until the promise it returns settles, so a test decides when (and how) the model answers;
   * a script it resolves to answers that call instead of this one.
   */
  hold?: (request: ReceivedRequest) => Promise<ModelScript | void>;
}

export interface ReceivedRequest {
  path: string;
  body: unknown;
  headers: http.IncomingHttpHeaders;
}

export interface ModelServer {
  /** Root, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** What a provider config's baseUrl is for this kind (openai: url + '/v1'; ollama and anthropic: url). */
  baseUrl: string;
  port: number;
  /** Mutable: tests change it between calls (a call reads it once, when it arrives). */
  script: ModelScript;
  /** Chat calls received, in arrival order. */
  requests: ReceivedRequest[];
  /** Chat calls whose client went away before the end of the answer. */
  aborted: number;
  /** Chat calls being answered right now. */
  inFlight: number;
  /** TCP connections accepted (keep-alive reuse shows as fewer connections than requests). */
  connections: number;
  /** Stop listening and destroy every open socket, as a crash does. */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** How long after its last frame a stream's body ends. */
const BODY_END_LAG_MS = 2;

/** The model every double lists and answers as when a request names none. */
export const TEST_MODEL = 'test-model';

/** The default reply: a fixed function of the last user message. */
export function echoReply(messages: ChatTurn[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user') return `You said: ${messages[i].content}`;
  }
  return 'You said nothing.';
}

/** How the doubles cut a reply into tokens: words with the whitespace before them. */
export function replyTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

/** One chat call's answer, as the wire writers see it. */
interface Answer {
  id: string;
  created: number;
  model: string;
  request: Record<string, unknown>;
  text: string;
  tokens: string[];
  promptTokens: number;
  cut: boolean;
  omitUsage: boolean;
  /** The tools the model calls instead of answering in text (empty: a text answer). */
  toolCalls: { id: string; name: string; arguments: Record<string, unknown> }[];
  /** Its thinking, when the request asked for it. */
  thinking?: string;
}

interface Refusal {
  status: number;
  message: string;
}

/** Everything one upstream kind does differently from the others. */
interface Wire {
  baseUrl(root: string): string;
  chatPath: string;
  /** The same server's other generating endpoint (completions), spoken by a wire of its own. */
  also?: Wire;
  /** Its embeddings endpoint: the request's body → the answer's. */
  embeddings?: { path: string; answer(body: Record<string, unknown>): unknown };
  /** GET endpoints that tell readiness, and their body when ready. */
  readiness: Record<string, (script: ModelScript) => unknown>;
  streamsByDefault: boolean;
  streamContentType: string;
  authorize(req: http.IncomingMessage): Refusal | undefined;
  validate(body: Record<string, unknown>): Refusal | undefined;
  conversation(body: Record<string, unknown>): ChatTurn[];
  maxTokens(body: Record<string, unknown>): unknown;
  errorBody(status: number, message: string): unknown;
  complete(answer: Answer): unknown;
  streamHead(answer: Answer): string;
  streamToken(answer: Answer, token: string): string;
  streamTail(answer: Answer): string;
  streamError(answer: Answer, message: string): string;
}

/** A turn's content as text whatever its shape: a string, null, OpenAI parts, Anthropic blocks (tool results too). */
function plainText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: { type?: string; text?: unknown; content?: unknown }) => (typeof part?.text === 'string' ? part.text : part?.type === 'tool_result' ? plainText(part.content) : '')).join('');
}
const turnsOf = (body: Record<string, unknown>): ChatTurn[] =>
  (body.messages as { role: string; content: unknown }[]).map((turn) => ({ role: turn.role, content: plainText(turn.content) }));
const hasMessages = (body: Record<string, unknown>): Refusal | undefined =>
  Array.isArray(body.messages) ? undefined : { status: 400, message: 'the body must be a JSON object with a messages array' };

/** Deterministic vectors, one per input text, so a test can check which text each came from. */
export function testEmbedding(text: string): number[] {
  return [text.length, text.charCodeAt(0) || 0, 0.5];
}
const noRefusal = (): undefined => undefined;

const openAiWire: Wire = {
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

const ollamaWire: Wire = {
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

const anthropicWire: Wire = {
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

/** One chat call as the server tracks it. */
interface Call {
  ended: boolean;
  closedByServer: boolean;
}

class ScriptedModelServer implements ModelServer {
  url = '';
  baseUrl = '';
  port = 0;
  requests: ReceivedRequest[] = [];
  aborted = 0;
  inFlight = 0;
  connections = 0;
  private readonly server: http.Server;
  private readonly calls = new Set<Call>();
  private answers = 0;

  constructor(
    private readonly wire: Wire,
    public script: ModelScript,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, this.wire.errorBody(500, `model server double failed: ${String(error)}`));
        else res.destroy();
      });
    });
    this.server.on('connection', () => {
      this.connections++;
    });
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    this.baseUrl = this.wire.baseUrl(this.url);
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    for (const call of this.calls) call.closedByServer = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  restart(): Promise<void> {
    return this.listen(this.port);
  }

  close(): Promise<void> {
    return this.stop();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', this.url).pathname;
    const script = this.script;
    if (req.method === 'GET' && Object.hasOwn(this.wire.readiness, path)) {
      const refusal = script.notReady ? { status: 503, message: 'model is loading' } : this.wire.authorize(req);
      if (refusal) sendJson(res, refusal.status, this.wire.errorBody(refusal.status, refusal.message));
      else sendJson(res, 200, this.wire.readiness[path](script));
      return;
    }
    if (req.method === 'POST' && path === this.wire.chatPath) {
      await this.chat(this.wire, req, res, path, script);
      return;
    }
    if (req.method === 'POST' && this.wire.also && path === this.wire.also.chatPath) {
      await this.chat(this.wire.also, req, res, path, script);
      return;
    }
    if (req.method === 'POST' && path === this.wire.embeddings?.path) {
      const body = await readJson(req);
      this.requests.push({ path, body, headers: req.headers });
      if (script.failWith !== undefined) return sendJson(res, script.failWith, this.wire.errorBody(script.failWith, 'scripted failure'));
      sendJson(res, 200, this.wire.embeddings.answer(body as Record<string, unknown>));
      return;
    }
    sendJson(res, 404, this.wire.errorBody(404, `no route for ${req.method} ${path}`));
  }

  private async chat(wire: Wire, req: http.IncomingMessage, res: http.ServerResponse, path: string, script: ModelScript): Promise<void> {
    const call: Call = { ended: false, closedByServer: false };
    this.calls.add(call);
    this.inFlight++;
    res.on('close', () => {
      call.ended = true;
      this.calls.delete(call);
      this.inFlight--;
      if (!res.writableFinished && !call.closedByServer) this.aborted++;
    });
    const body = await readJson(req);
    const received: ReceivedRequest = { path, body, headers: req.headers };
    this.requests.push(received);
    if (script.hang || call.ended) return;
    if (script.hold) {
      script = (await script.hold(received)) ?? script;
      if (script.hang || call.ended) return;
    }

    const fail = (status: number, message: string): void => sendJson(res, status, wire.errorBody(status, message));
    if (script.notReady) return fail(503, 'model is loading');
    if (script.failWith !== undefined) return fail(script.failWith, 'scripted failure');
    const refusal = wire.authorize(req);
    if (refusal) return fail(refusal.status, refusal.message);
    if (typeof body !== 'object' || body === null) return fail(400, 'the body must be a JSON object');
    const request = body as Record<string, unknown>;
    const invalid = wire.validate(request);
    if (invalid) return fail(invalid.status, invalid.message);

    const answer = this.answer(wire, request, script);
    const delayMs = script.tokenDelayMs ?? 0;
    const streaming = typeof request.stream === 'boolean' ? request.stream : wire.streamsByDefault;
    // What was written reaches the client first (a crashed process's kernel sends it too), then the connection ends
    // without the end of the body.
    const crash = (): void => {
      call.closedByServer = true;
      req.socket.destroySoon();
    };

    if (!streaming) {
      const sent = Math.min(answer.tokens.length, script.closeMidStreamAfter ?? script.errorMidStreamAfter ?? Infinity);
      if (delayMs > 0 && sent > 0) await sleep(sent * delayMs);
      if (call.ended) return;
      if (script.closeMidStreamAfter !== undefined) return crash();
      if (script.errorMidStreamAfter !== undefined) return fail(500, 'scripted failure mid-answer');
      sendJson(res, 200, wire.complete(answer));
      return;
    }

    res.writeHead(200, { 'content-type': wire.streamContentType, 'cache-control': 'no-cache' });
    const head = wire.streamHead(answer);
    if (head === '') res.flushHeaders();
    else res.write(head);
    for (let i = 0; ; i++) {
      if (i === script.errorMidStreamAfter) {
        res.end(wire.streamError(answer, 'scripted failure mid-stream'));
        return;
      }
      if (i === script.closeMidStreamAfter) return crash();
      if (i === answer.tokens.length) break;
      if (delayMs > 0) {
        await sleep(delayMs);
        if (call.ended) return;
      }
      res.write(wire.streamToken(answer, answer.tokens[i]));
    }
    // The end of the body follows the last frame a moment later, as it can over a real network: a client that waits
    // for it, or that throws the connection away instead of reading it, shows up in timings and in `connections`.
    res.write(wire.streamTail(answer));
    setTimeout(() => res.end(), BODY_END_LAG_MS);
  }

  private answer(wire: Wire, request: Record<string, unknown>, script: ModelScript): Answer {
    const conversation = wire.conversation(request);
    const callsTools = script.toolCalls !== undefined && Array.isArray(request.tools) && conversation.at(-1)?.role !== 'tool' && !isToolResultTurn(request);
    const text = callsTools ? '' : (script.reply ?? echoReply)(conversation);
    const all = replyTokens(text);
    const max = wire.maxTokens(request);
    const cut = typeof max === 'number' && max < all.length;
    const tokens = cut ? all.slice(0, max) : all;
    let promptTokens = 0;
    for (const turn of conversation) promptTokens += replyTokens(turn.content).length;
    this.answers++;
    return {
      id: `answer-${this.answers}`,
      created: Math.floor(Date.now() / 1000),
      model: typeof request.model === 'string' ? request.model : TEST_MODEL,
      request,
      text: cut ? tokens.join('') : text,
      tokens,
      promptTokens,
      cut,
      omitUsage: script.omitUsage === true,
      toolCalls: callsTools ? script.toolCalls!.map((call, i) => ({ id: `call_${this.answers}_${i}`, ...call })) : [],
      thinking: request.think ? script.thinking : undefined,
    };
  }
}

/** Anthropic's tool results come back as a user turn of `tool_result` blocks. */
function isToolResultTurn(request: Record<string, unknown>): boolean {
  const last = (request.messages as { content?: unknown }[] | undefined)?.at(-1)?.content;
  return Array.isArray(last) && last.some((block: { type?: unknown }) => block?.type === 'tool_result');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(undefined);
      }
    });
    req.on('close', () => resolve(undefined));
  });
}

async function start(wire: Wire, script: ModelScript, port: number): Promise<ModelServer> {
  const server = new ScriptedModelServer(wire, script);
  await server.listen(port);
  return server;
}

/** An OpenAI-compatible server (vLLM, llama.cpp, LM Studio): GET /v1/models, GET /health, POST /v1/chat/completions. */
export function startOpenAiServer(script: ModelScript = {}, options: { port?: number } = {}): Promise<ModelServer> {
  return start(openAiWire, script, options.port ?? 0);
}

/** Ollama's native API: GET /api/version, POST /api/chat (NDJSON stream unless `stream: false`). */
export function startOllamaServer(script: ModelScript = {}, options: { port?: number } = {}): Promise<ModelServer> {
  return start(ollamaWire, script, options.port ?? 0);
}

/** Anthropic's Messages API: GET /v1/models, POST /v1/messages; refuses calls without x-api-key and anthropic-version. */
export function startAnthropicServer(script: ModelScript = {}, options: { port?: number } = {}): Promise<ModelServer> {
  return start(anthropicWire, script, options.port ?? 0);
}

export interface RawServer {
  url: string;
  port: number;
  /** Requests received (of any path), in arrival order. */
  requests: ReceivedRequest[];
  /** Mutable: what the next requests are answered with (a request reads it when it arrives). */
  pieces: (string | Buffer)[];
  close(): Promise<void>;
}

/**
 * A server that answers every request with the given body pieces, `pauseMs` apart so they reach the client in
 * separate reads: for wire dialects and malformed answers that the scripted doubles never produce.
 */
export async function startRawServer(
  pieces: (string | Buffer)[],
  options: { status?: number; contentType?: string; pauseMs?: number } = {},
): Promise<RawServer> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    requests.push({ path: new URL(req.url ?? '/', 'http://raw').pathname, body: await readJson(req), headers: req.headers });
    res.writeHead(options.status ?? 200, { 'content-type': options.contentType ?? 'text/event-stream' });
    for (const piece of raw.pieces) {
      res.write(piece);
      await sleep(options.pauseMs ?? 3);
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const raw: RawServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    pieces,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return raw;
}
