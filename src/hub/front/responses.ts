// The OpenAI Responses front door: POST /v1/responses (plain and streamed), translated onto chat.completions through
// the injected ChatCaller. Nothing is kept unless the caller asks (`store: true`); what is kept lets
// `previous_response_id` continue a response this hub made, for its own user only.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseWith } from '../../protocol/index.ts';
import { viewerOf } from '../auth.ts';
import { RETRY_AFTER_S } from '../errors.ts';
import { openSse } from '../sse.ts';
import type { ChatCaller } from './chat-caller.ts';
import { deltasOf, upstreamErrorMessage, wholeAnswer } from './chat-results.ts';
import { ResponsesRequest } from './responses-request.ts';
import { ResponseStore } from './responses-store.ts';
import { ResponsesStreamTranslator } from './responses-stream.ts';
import { assistantTurn, echoOf, outputItems, responseObject, responsesError, responsesToChat, statusOf, toolNaming, type ItemIds } from './responses-translate.ts';

export interface ResponsesRoutesOptions {
  callChat: ChatCaller;
  /** SSE comments while the model has not said its first token (a wake can take a minute). */
  keepAliveMs: number;
  /** Where `store: true` responses are kept; default a ResponseStore with its default bounds. */
  store?: ResponseStore;
}

const newId = (prefix: string) => (): string => `${prefix}_${randomUUID().replaceAll('-', '')}`;
const newResponseId = newId('resp');
const newCallId = newId('call');
const ids: ItemIds = { message: newId('msg'), call: newId('fc'), reasoning: newId('rs') };

function sendError(reply: FastifyReply, status: number, message: string, param?: string | null, code?: string | null): FastifyReply {
  // As on the chat door: SDKs wait that long before they retry a hub with no healthy member.
  if (status === 503) reply.header('retry-after', String(RETRY_AFTER_S));
  return reply.code(status).send(responsesError(status, message, param, code));
}

export async function responsesRoutes(app: FastifyInstance, options: ResponsesRoutesOptions): Promise<void> {
  const store = options.store ?? new ResponseStore();

  app.post('/v1/responses', async (request, reply) => {
    const parsed = parseWith(ResponsesRequest, request.body);
    if (!parsed.ok) return sendError(reply, 400, parsed.error);
    const asked = parsed.value;
    const viewer = viewerOf(request);
    const previousId = asked.previous_response_id;
    const previous = previousId ? store.get(viewer.user, previousId) : [];
    if (!previous) {
      return sendError(reply, 400, `previous_response_id '${previousId}' is not a response this hub keeps for you: only responses made here with store: true are kept, for a bounded time; send the conversation as input items instead`, 'previous_response_id');
    }
    const translated = responsesToChat(asked, previous);
    if (!translated.ok) return sendError(reply, 400, translated.message, translated.param);

    const callerGone = new AbortController();
    const onClose = (): void => callerGone.abort();
    reply.raw.once('close', onClose);
    const result = await options.callChat({ viewer, body: translated.value.body, signal: callerGone.signal });
    // Nobody is left to answer.
    if (callerGone.signal.aborted) return reply.hijack();
    if (result.kind === 'error') return sendError(reply, result.status, result.message, result.detail?.param, result.detail?.code);
    if (result.kind === 'json' && result.status !== 200) return sendError(reply, result.status, upstreamErrorMessage(result.body));
    const id = newResponseId();
    const createdAt = Math.floor(Date.now() / 1000);
    const echo = echoOf(asked);
    const naming = toolNaming(asked.tools);
    const remember = (answer: Parameters<typeof assistantTurn>[0]): void => {
      if (asked.store === true) store.put(viewer.user, id, [...translated.value.conversation, assistantTurn(answer)]);
    };

    if (!asked.stream) {
      const answer = await wholeAnswer(result, newCallId);
      reply.raw.off('close', onClose);
      if (callerGone.signal.aborted) return reply.hijack();
      if (!answer.ok) return sendError(reply, 502, answer.error);
      remember(answer.value);
      const { status, incomplete_details } = statusOf(answer.value.finishReason);
      return responseObject({ id, createdAt, echo, status, incompleteDetails: incomplete_details, output: outputItems(answer.value, ids, naming), usage: answer.value.usage });
    }

    reply.raw.off('close', onClose);
    const sse = openSse(reply, options.keepAliveMs);
    sse.onClose(onClose);
    const translator = new ResponsesStreamTranslator({ id, createdAt, echo, ids, naming, newCallId });
    const send = (events: ReturnType<ResponsesStreamTranslator['start']>): void => {
      for (const event of events) sse.send(JSON.stringify(event), event.type);
    };
    send(translator.start());
    let failed = false;
    for await (const delta of deltasOf(result, newCallId)) {
      if (sse.closed) break;
      failed ||= delta.error !== undefined;
      send(translator.push(delta));
    }
    if (!failed && !sse.closed) {
      const { events } = translator.finish();
      send(events);
      remember(translator.answer);
    }
    sse.end();
    return reply;
  });
}
