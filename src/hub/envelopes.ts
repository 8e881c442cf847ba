// Converts between the two shapes a registrar may answer in and the one the caller asked for: a whole
// chat.completion for a streaming caller becomes one chunk; streamed chunks for a non-streaming caller become one body.
import { ChatCompletion, ChatCompletionChunk, chunkEnvelope, parseJson, parseWith } from '../protocol/index.ts';

/** The `data` of the single chunk that carries a whole completion body (content and finish reason). */
export function completionAsChunk(body: Record<string, unknown>, fallbackModel: string): string {
  const parsed = parseWith(ChatCompletion, body);
  if (!parsed.ok) {
    return JSON.stringify(chunkEnvelope({ id: 'chatcmpl-hub', model: fallbackModel, role: 'assistant', content: '', finishReason: 'stop' }));
  }
  const completion = parsed.value;
  const choice = completion.choices[0];
  return JSON.stringify(
    chunkEnvelope({
      id: completion.id,
      model: completion.model,
      created: completion.created,
      role: 'assistant',
      content: choice?.message.content ?? '',
      finishReason: choice?.finish_reason ?? 'stop',
    }),
  );
}

/** One chat.completion out of streamed chunk data (JSON chat.completion.chunk each); unreadable pieces are skipped. */
export function chunksAsCompletion(chunks: readonly string[], fallbackModel: string): Record<string, unknown> {
  const pieces: ChatCompletionChunk[] = [];
  for (const data of chunks) {
    const json = parseJson(data);
    if (!json.ok) continue;
    const chunk = parseWith(ChatCompletionChunk, json.value);
    if (chunk.ok) pieces.push(chunk.value);
  }
  const first = pieces[0];
  let content = '';
  let finishReason: string | null = null;
  let usage: unknown;
  for (const piece of pieces) {
    const choice = piece.choices[0];
    content += choice?.delta.content ?? '';
    finishReason = choice?.finish_reason ?? finishReason;
    usage = piece.usage ?? usage;
  }
  return {
    id: first?.id ?? 'chatcmpl-hub',
    object: 'chat.completion',
    created: first?.created ?? Math.floor(Date.now() / 1000),
    model: first?.model ?? fallbackModel,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason ?? 'stop' }],
    ...(usage === undefined || usage === null ? {} : { usage }),
  };
}
