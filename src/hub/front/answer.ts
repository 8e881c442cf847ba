// What the caller reads of a registrar's answer: the upstream's JSON as it said it, but for `model`, which names what
// the caller asked for (an LLM, a pool, an agent), never the upstream's own id (a GGUF path). Pure.

/** A whole answer (chat.completion, text_completion, embeddings list) with the caller's `model`. */
export function answerBody(body: Record<string, unknown>, model: string): Record<string, unknown> {
  return body.model === model ? body : { ...body, model };
}

/**
 * One streamed `data` payload as the caller gets it, or undefined to leave it out: the usage-only chunk (no choices)
 * that registrars ask upstreams for is dropped unless the caller asked for it too, since a client that did not ask
 * may read `choices[0]` of every chunk. Data that is not a JSON object travels untouched.
 */
export function answerChunk(data: string, model: string, callerWantsUsage: boolean): string | undefined {
  if (data.charCodeAt(0) !== 123 /* { */) return data;
  if (alreadyNamed(data, model) && (callerWantsUsage || !data.includes('"choices":[]'))) return data;
  let chunk: unknown;
  try {
    chunk = JSON.parse(data);
  } catch {
    return data;
  }
  if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) return data;
  const fields = chunk as Record<string, unknown>;
  if (!callerWantsUsage && Array.isArray(fields.choices) && fields.choices.length === 0 && fields.usage !== undefined) return undefined;
  if (!('model' in fields) || fields.model === model) return data;
  return JSON.stringify({ ...fields, model });
}

/**
 * The hot path's shortcut: a chunk whose one `"model":` key already holds the caller's name needs no parse. (Inside a
 * JSON string a quote is escaped, so the key can only be a key; with a second one, nested, the parse decides.)
 */
function alreadyNamed(data: string, model: string): boolean {
  const key = '"model":';
  const at = data.indexOf(key);
  return at >= 0 && at === data.lastIndexOf(key) && data.startsWith(JSON.stringify(model), at + key.length);
}

/** Whether a streaming caller's body asked for the usage chunk (`stream_options.include_usage`). */
export function wantsUsage(body: Record<string, unknown>): boolean {
  const options = body.stream_options;
  return typeof options === 'object' && options !== null && (options as Record<string, unknown>).include_usage === true;
}
