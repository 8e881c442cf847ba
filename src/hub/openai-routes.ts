// The caller's OpenAI-compatible front door: POST /v1/chat/completions, plain or `stream: true`.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ChatCompletionRequest, DONE, parseWith } from '../protocol/index.ts';
import { viewerOf } from './auth.ts';
import type { CallOutcome, CallPlan, Dispatcher } from './dispatch.ts';
import { chunksAsCompletion, completionAsChunk } from './envelopes.ts';
import { sendError } from './errors.ts';
import { openSse } from './sse.ts';

export interface OpenAiRoutesOptions {
  dispatcher: Dispatcher;
  keepAliveMs: number;
}

export function openAiRoutes(app: FastifyInstance, options: OpenAiRoutesOptions): void {
  const { dispatcher } = options;

  app.post('/v1/chat/completions', async (request, reply) => {
    const parsed = parseWith(ChatCompletionRequest, request.body);
    if (!parsed.ok) return sendError(reply, 400, parsed.error);
    const planned = dispatcher.plan(viewerOf(request), parsed.value);
    if (!planned.ok) return sendError(reply, planned.status, planned.message);
    if (planned.plan.streaming) {
      streamAnswer(reply, planned.plan, options);
      return reply;
    }
    return wholeAnswer(reply, planned.plan, dispatcher);
  });
}

async function wholeAnswer(reply: FastifyReply, plan: CallPlan, dispatcher: Dispatcher): Promise<FastifyReply> {
  const callerGone = new AbortController();
  const onClose = (): void => callerGone.abort();
  reply.raw.once('close', onClose);
  const chunks: string[] = [];
  const outcome = await new Promise<CallOutcome>((resolve) => {
    dispatcher.run(plan, { chunk: (data) => chunks.push(data), finish: resolve }, callerGone.signal);
  });
  reply.raw.off('close', onClose);
  if (!outcome.ok) {
    if (outcome.status === 499) return reply.hijack();
    return sendError(reply, outcome.status, outcome.message);
  }
  // A registrar that streamed a non-streaming task still gets its text to the caller, as one body.
  return reply.code(200).send(outcome.body ?? chunksAsCompletion(chunks, plan.row.model));
}

function streamAnswer(reply: FastifyReply, plan: CallPlan, options: OpenAiRoutesOptions): void {
  // Headers go out now: keep-alive comments hold the line while a hibernating model wakes.
  const sse = openSse(reply, options.keepAliveMs);
  const callerGone = new AbortController();
  sse.onClose(() => callerGone.abort());
  options.dispatcher.run(
    plan,
    {
      chunk: (data) => sse.send(data),
      finish: (outcome) => {
        if (outcome.ok && outcome.body) sse.send(completionAsChunk(outcome.body, plan.row.model));
        if (!outcome.ok) sse.send(JSON.stringify({ error: { message: outcome.message, code: outcome.status } }));
        sse.send(DONE);
        sse.end();
      },
    },
    callerGone.signal,
  );
}
