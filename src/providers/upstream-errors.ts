// What an upstream's error says: the message of its error body or error frame, and the OpenAI-shaped fields
// (type, code, param) the caller's SDK reads.
import { type ErrorFields, UpstreamError } from './types.ts';

const ERROR_EXCERPT_CHARS = 300;

/**
 * The useful part of an error body: the message of an `{error: …}` JSON when there is one (OpenAI's, Ollama's and
 * Anthropic's shapes), else the text itself; and the OpenAI-shaped fields the caller's SDK reads.
 */
export function errorExcerpt(body: string): { message: string; fields: ErrorFields } {
  let text = body.trim();
  let fields: ErrorFields = {};
  if (text.startsWith('{')) {
    try {
      const error = (JSON.parse(text) as { error?: unknown }).error;
      const message = upstreamErrorMessage(error);
      if (message !== undefined) text = message;
      fields = errorFieldsOf(error);
    } catch {
      // Not JSON after all: show the text.
    }
  }
  text = text.replace(/\s+/g, ' ');
  return { message: text.length > ERROR_EXCERPT_CHARS ? `${text.slice(0, ERROR_EXCERPT_CHARS)}…` : text, fields };
}

const MAX_FIELD_CHARS = 200;
const shortString = (value: unknown): string | undefined => (typeof value === 'string' && value.length <= MAX_FIELD_CHARS ? value : undefined);

/** `type`, `code` and `param` of an error object; a numeric code (vLLM sends the status) becomes its text. */
export function errorFieldsOf(error: unknown): ErrorFields {
  if (typeof error !== 'object' || error === null) return {};
  const { type, code, param } = error as Record<string, unknown>;
  const fields: ErrorFields = {};
  const typeText = shortString(type);
  if (typeText !== undefined) fields.type = typeText;
  const codeText = typeof code === 'number' ? String(code) : shortString(code);
  if (codeText !== undefined) fields.code = codeText;
  else if (code === null) fields.code = null;
  const paramText = shortString(param);
  if (paramText !== undefined) fields.param = paramText;
  else if (param === null) fields.param = null;
  return fields;
}

/** The message inside an upstream's `error` value: a string, or an object with `message`. */
export function upstreamErrorMessage(error: unknown): string | undefined {
  if (typeof error === 'string' && error !== '') return error;
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') return message;
    return JSON.stringify(error);
  }
  return undefined;
}

export function streamEndedEarly(): UpstreamError {
  return new UpstreamError('protocol', 'stream ended early');
}
