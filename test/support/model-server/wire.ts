// What the scripted model servers share across dialects: the script a test writes, what a server records, one chat
// call's answer, and the Wire each dialect fills in (model-server/openai.ts, ollama.ts, anthropic.ts).
import type http from 'node:http';

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
export interface Answer {
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

export interface Refusal {
  status: number;
  message: string;
}

/** Everything one upstream kind does differently from the others. */
export interface Wire {
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
export function plainText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: { type?: string; text?: unknown; content?: unknown }) => (typeof part?.text === 'string' ? part.text : part?.type === 'tool_result' ? plainText(part.content) : '')).join('');
}
export const turnsOf = (body: Record<string, unknown>): ChatTurn[] =>
  (body.messages as { role: string; content: unknown }[]).map((turn) => ({ role: turn.role, content: plainText(turn.content) }));
export const hasMessages = (body: Record<string, unknown>): Refusal | undefined =>
  Array.isArray(body.messages) ? undefined : { status: 400, message: 'the body must be a JSON object with a messages array' };

/** Deterministic vectors, one per input text, so a test can check which text each came from. */
export function testEmbedding(text: string): number[] {
  return [text.length, text.charCodeAt(0) || 0, 0.5];
}
export const noRefusal = (): undefined => undefined;
