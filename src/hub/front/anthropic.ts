// The Anthropic front door: POST /v1/messages (plain and streamed) and /v1/messages/count_tokens, translated onto
// chat.completions through the injected ChatCaller. Every error, the hub's own 401 and 400s included, answers in
// Anthropic's shape, so Claude Code and the SDK show the message and do not retry what cannot succeed.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseWith } from '../../protocol/index.ts';
import { viewerOf } from '../auth.ts';
import { RETRY_AFTER_S } from '../errors.ts';
import type { Viewer } from '../registry.ts';
import { openSse } from '../sse.ts';
import { CountTokensRequest, MessagesRequest } from './anthropic-request.ts';
import { AnthropicStreamTranslator } from './anthropic-stream.ts';
import { anthropicError, chatToMessage, estimateInputTokens, messagesToChat } from './anthropic-translate.ts';
import type { ChatCaller } from './chat-caller.ts';
import { deltasOf, upstreamErrorMessage, wholeAnswer } from './chat-results.ts';

export interface AnthropicRoutesOptions {
  callChat: ChatCaller;
  /** Whether the caller may see `model` (an LLM, pool or agent name): count_tokens answers 404 otherwise. */
  sees: (viewer: Viewer, model: string) => boolean;
  /** SSE comments while the model has not said its first token (a wake can take a minute). */
  keepAliveMs: number;
}

const newId = (prefix: string) => (): string => `${prefix}_${randomUUID().replaceAll('-', '')}`;
const newMessageId = newId('msg');
const newToolId = newId('toolu');

function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  // As on the chat door: SDKs wait that long before they retry a hub with no healthy member.
  if (status === 503) reply.header('retry-after', String(RETRY_AFTER_S));
  return reply.code(status).send(anthropicError(status, message));
}

/** The hub's errors (auth, body limit, bad JSON) are `{ error: { message } }`: said again in Anthropic's words. */
function inAnthropicShape(status: number, payload: unknown): unknown {
  if (status < 400 || typeof payload !== 'string') return payload;
  try {
    const body = JSON.parse(payload) as { type?: unknown; error?: { message?: unknown } };
    if (body.type === 'error' || typeof body.error?.message !== 'string') return payload;
    return JSON.stringify(anthropicError(status, body.error.message));
  } catch {
    return payload;
  }
}

export async function anthropicRoutes(app: FastifyInstance, options: AnthropicRoutesOptions): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply, payload) => inAnthropicShape(reply.statusCode, payload));

    scope.post('/v1/messages/count_tokens', async (request, reply) => {
      const parsed = parseWith(CountTokensRequest, request.body);
      if (!parsed.ok) return sendError(reply, 400, parsed.error);
      // What the caller may not call, it may not learn exists.
      if (!options.sees(viewerOf(request), parsed.value.model)) return sendError(reply, 404, `model '${parsed.value.model}' not found`);
      return { input_tokens: estimateInputTokens(parsed.value) };
    });

    scope.post('/v1/messages', async (request, reply) => {
      const parsed = parseWith(MessagesRequest, request.body);
      if (!parsed.ok) return sendError(reply, 400, parsed.error);
      const translated = messagesToChat(parsed.value);
      if (!translated.ok) return sendError(reply, 400, translated.message);
      const messages = parsed.value;
      const callerGone = new AbortController();
      const onClose = (): void => callerGone.abort();
      reply.raw.once('close', onClose);
      const result = await options.callChat({ viewer: viewerOf(request), body: translated.value, signal: callerGone.signal });
      // Nobody is left to answer.
      if (callerGone.signal.aborted) return reply.hijack();
      if (result.kind === 'error') return sendError(reply, result.status, result.message);
      if (result.kind === 'json' && result.status !== 200) return sendError(reply, result.status, upstreamErrorMessage(result.body));
      const context = { id: newMessageId(), model: messages.model, stopSequences: messages.stop_sequences ?? [] };

      if (!messages.stream) {
        const answer = await wholeAnswer(result, newToolId);
        reply.raw.off('close', onClose);
        if (callerGone.signal.aborted) return reply.hijack();
        if (!answer.ok) return sendError(reply, 502, answer.error);
        return chatToMessage(answer.value, context);
      }

      reply.raw.off('close', onClose);
      const sse = openSse(reply, options.keepAliveMs);
      sse.onClose(onClose);
      const translator = new AnthropicStreamTranslator({ ...context, inputEstimate: estimateInputTokens(messages), newToolId });
      const send = (events: ReturnType<AnthropicStreamTranslator['start']>): void => {
        for (const { event, data } of events) sse.send(JSON.stringify(data), event);
      };
      send(translator.start());
      for await (const delta of deltasOf(result, newToolId)) {
        if (sse.closed) break;
        send(translator.push(delta));
      }
      send(translator.finish());
      sse.end();
      return reply;
    });
  });
}
