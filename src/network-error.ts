// What a failed network call says, for the registrar's log and for callers: the one describer of network errors
// (fetch's `fetch failed`, node:http's socket errors), used for the hub, the model servers and the wake requests.
import { redactUrl } from './redact.ts';

/**
 * The innermost cause of `error` as a phrase for the log (`connect ECONNREFUSED 127.0.0.1:8000`, `other side
 * closed`), URL credentials redacted, and a code that names no address, for a caller (`ECONNREFUSED`).
 */
export function describeNetworkError(error: unknown): { phrase: string; code: string } {
  let current: unknown = error;
  // fetch wraps the socket's error (`fetch failed` → `connect ECONNREFUSED …`); undici sometimes once more.
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const cause: unknown = current.cause;
    if (!(cause instanceof Error)) break;
    current = cause;
  }
  if (!(current instanceof Error)) return { phrase: redactUrl(String(current)), code: 'network error' };
  const code = (current as { code?: unknown }).code;
  const safeCode = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'network error';
  const phrase = current.message !== '' ? current.message : typeof code === 'string' ? code : current.name;
  return { phrase: redactUrl(phrase), code: safeCode };
}

/** The phrase alone, for a message that names the address itself. */
export const networkErrorPhrase = (error: unknown): string => describeNetworkError(error).phrase;
