// The callers' OpenAI-compatible front door: POST /v1/chat/completions, /v1/completions (plain or `stream: true`) and
// /v1/embeddings. The body is checked only for what the hub needs (`model`, the endpoint's one required field);
// everything else is the caller's and travels as sent (SPEC.md §5).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as v from 'valibot';
import { parseWith, type OpenAiEndpoint } from '../../protocol/index.ts';
import { viewerOf } from '../auth.ts';
import type { CallBody, CallOutcome, CallPlan, Dispatcher } from '../dispatch.ts';
import { chunksAsCompletion, completionAsChunk } from '../envelopes.ts';
import { sendError } from '../errors.ts';
import { answerBody, answerChunk, wantsUsage } from './answer.ts';
import { openCallerStream } from './caller-stream.ts';

export interface OpenAiRoutesOptions {
  dispatcher: Dispatcher;
  keepAliveMs: number;
}

// Bounded: the name is echoed in errors, and no published name is longer than a wire name (128).
const Model = v.pipe(v.string(), v.minLength(1), v.maxLength(256));
const Stream = v.optional(v.boolean());
const Role = v.picklist(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const Text = v.union([v.string(), v.array(v.unknown())], 'Invalid type: expected a string or an array');

/** What each endpoint needs to route a call; the schemas are loose: unknown fields are the caller's business. */
const envelopes: Record<OpenAiEndpoint, v.GenericSchema> = {
  'chat.completions': v.looseObject({ model: Model, stream: Stream, messages: v.pipe(v.array(v.looseObject({ role: Role })), v.minLength(1)) }),
  completions: v.looseObject({ model: Model, stream: Stream, prompt: Text }),
  embeddings: v.looseObject({ model: Model, input: Text }),
};

export function openAiRoutes(app: FastifyInstance, options: OpenAiRoutesOptions): void {
  const door = (endpoint: OpenAiEndpoint) => async (request: FastifyRequest, reply: FastifyReply) => {
    const checked = parseWith(envelopes[endpoint], request.body);
    if (!checked.ok) return sendError(reply, 400, checked.error, { param: checked.error.split(':')[0] ?? null });
    // The caller's own object, not the parser's copy: it travels as sent, key order included.
    const body = request.body as CallBody;
    const planned = options.dispatcher.plan(viewerOf(request), endpoint, body);
    if (!planned.ok) return sendError(reply, planned.status, planned.message, planned.detail);
    if (planned.plan.streaming) {
      streamAnswer(reply, planned.plan, options, wantsUsage(body));
      return reply;
    }
    return wholeAnswer(reply, planned.plan, options.dispatcher);
  };
  app.post('/v1/chat/completions', door('chat.completions'));
  app.post('/v1/completions', door('completions'));
  app.post('/v1/embeddings', door('embeddings'));
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
    return sendError(reply, outcome.status, outcome.message, outcome.detail);
  }
  // A base registrar that streamed a non-streaming task still gets its text to the caller, as one body.
  return reply.code(200).send(answerBody(outcome.body ?? chunksAsCompletion(chunks, plan.model), plan.model));
}

function streamAnswer(reply: FastifyReply, plan: CallPlan, options: OpenAiRoutesOptions, callerWantsUsage: boolean): void {
  const stream = openCallerStream(reply, options.keepAliveMs);
  const callerGone = new AbortController();
  stream.onClose(() => callerGone.abort());
  options.dispatcher.run(
    plan,
    {
      chunk: (data) => {
        const relayed = answerChunk(data, plan.model, callerWantsUsage);
        if (relayed !== undefined) stream.send(relayed);
      },
      finish: (outcome) => {
        if (!outcome.ok) return stream.fail(outcome.status, outcome.message, outcome.detail);
        // A base registrar may answer a streaming task with one whole completion: it becomes one chunk.
        if (outcome.body) stream.send(plan.endpoint === 'chat.completions' ? completionAsChunk(answerBody(outcome.body, plan.model), plan.model) : JSON.stringify(answerBody(outcome.body, plan.model)));
        stream.finish();
      },
    },
    callerGone.signal,
  );
}
