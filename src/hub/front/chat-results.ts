// A ChatCaller's answer in the form the front door's caller asked for: whole, or as a sequence of deltas, whichever
// form the upstream happened to answer in (a registrar may stream a call that was not streamed, or not stream one).
import { answerAsDelta, gatherChunks, readChunk, readCompletion, type Answer, type ChunkDelta, type Read } from './chat-answer.ts';
import type { ChatCallResult } from './chat-caller.ts';

type Answered = Exclude<ChatCallResult, { kind: 'error' }>;

export async function* deltasOf(result: Answered, newToolId: () => string): AsyncGenerator<ChunkDelta> {
  if (result.kind === 'json') {
    const answer = readCompletion(result.body, newToolId);
    yield answer.ok ? answerAsDelta(answer.value) : { toolCalls: [], error: answer.error };
    return;
  }
  try {
    for await (const chunk of result.chunks) yield readChunk(chunk);
  } catch (error) {
    yield { toolCalls: [], error: error instanceof Error ? error.message : 'the model stream failed' };
  }
}

export async function wholeAnswer(result: Answered, newToolId: () => string): Promise<Read<Answer>> {
  if (result.kind === 'json') return readCompletion(result.body, newToolId);
  const deltas: ChunkDelta[] = [];
  for await (const delta of deltasOf(result, newToolId)) {
    deltas.push(delta);
    if (delta.error !== undefined) break;
  }
  return gatherChunks(deltas, newToolId);
}

/** The message of an upstream's error body (`{ error: { message } }`), else a generic one. */
export function upstreamErrorMessage(body: unknown): string {
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' ? message : 'the model answered with an error';
}
