// The built-in demo model: no network, a reply that is a fixed function of the last user message, streamed word by
// word at a steady pace, so a fresh install shows the whole path (hub, task, stream) working before any real model.
import type { ProviderConfig } from '../config/schema.ts';
import type { ChatMessage, InferRequest, Usage } from '../protocol/index.ts';
import { usageOf } from './http.ts';
import type { Completion, LlmProvider, StreamPiece } from './types.ts';

export const DEFAULT_DEMO_TOKEN_DELAY_MS = 15;
/** How much of the user's message the reply quotes back. */
const MAX_QUOTED_CHARS = 200;
const GREETING = 'Hello from the llm-registrar demo model.';

/** The demo model's whole answer to a conversation. */
export function demoReply(messages: readonly ChatMessage[]): string {
  const said = lastUserMessage(messages)?.trim().replace(/\s+/g, ' ');
  if (said === undefined || said === '') return `${GREETING} Send me a message and I will echo it back.`;
  const quoted = said.length > MAX_QUOTED_CHARS ? `${said.slice(0, MAX_QUOTED_CHARS)}…` : said;
  return `${GREETING} You said: "${quoted}".`;
}

/** The demo model's tokens: words with the whitespace before them, so the tokens join back into the text. */
export function demoTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

export class DemoProvider implements LlmProvider {
  readonly name: string;
  readonly type = 'demo';
  readonly model: string;
  private readonly tokenDelayMs: number;

  constructor(config: ProviderConfig) {
    this.name = config.name;
    this.model = config.model;
    this.tokenDelayMs = config.tokenDelayMs ?? DEFAULT_DEMO_TOKEN_DELAY_MS;
  }

  async isAvailable(): Promise<boolean> {
    return true;
  }

  /** Takes as long as streaming the same answer would. */
  async complete(request: InferRequest, signal: AbortSignal): Promise<Completion> {
    signal.throwIfAborted();
    const answer = answerTo(request);
    await pause(answer.tokens.length * this.tokenDelayMs, signal);
    return { content: answer.tokens.join(''), finishReason: answer.finishReason, usage: answer.usage };
  }

  async *stream(request: InferRequest, signal: AbortSignal): AsyncGenerator<StreamPiece, void, undefined> {
    signal.throwIfAborted();
    const { tokens, finishReason, usage } = answerTo(request);
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) {
      await pause(this.tokenDelayMs, signal);
      yield { content: tokens[i] };
    }
    await pause(this.tokenDelayMs, signal);
    yield last >= 0 ? { content: tokens[last], finishReason, usage } : { finishReason, usage };
  }
}

function answerTo(request: InferRequest): { tokens: string[]; finishReason: string; usage: Usage } {
  const all = demoTokens(demoReply(request.messages));
  const cut = request.max_tokens !== undefined && request.max_tokens < all.length;
  const tokens = cut ? all.slice(0, request.max_tokens) : all;
  let promptTokens = 0;
  for (const message of request.messages) promptTokens += demoTokens(message.content).length;
  return { tokens, finishReason: cut ? 'length' : 'stop', usage: usageOf(promptTokens, tokens.length) };
}

function lastUserMessage(messages: readonly ChatMessage[]): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return messages[i].content;
  return undefined;
}

/** Waits `ms` (0: one turn of the event loop), or rejects with the abort reason as soon as the signal fires. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      if (ms > 0) clearTimeout(timer as NodeJS.Timeout);
      else clearImmediate(timer as NodeJS.Immediate);
      reject(signal.reason);
    };
    const done = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const timer = ms > 0 ? setTimeout(done, ms) : setImmediate(done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
