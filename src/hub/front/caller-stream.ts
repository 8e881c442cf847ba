// A streaming caller's SSE answer whose head waits for the first chunk, so a call that fails before anything was
// said gets its HTTP status (503, 502, a 4xx) instead of a 200 with an error inside; once a keep-alive is due (a
// wake can take a minute; proxies cut a silent line) the head goes out and a later failure is an error event.
import type { FastifyReply } from 'fastify';
import { DONE } from '../../protocol/index.ts';
import { errorBody, writeError, type ErrorDetail } from '../errors.ts';
import { openSse } from '../sse.ts';

export interface CallerStream {
  send(data: string): void;
  /** Ends the call with an error: its status when nothing was sent yet, else an error event and [DONE]. */
  fail(status: number, message: string, detail?: ErrorDetail): void;
  /** Ends the call after its last chunk: [DONE]. */
  finish(): void;
  /** Runs once when the caller's connection ends, whoever ended it. */
  onClose(listener: () => void): void;
}

export function openCallerStream(reply: FastifyReply, keepAliveMs: number): CallerStream {
  const sse = openSse(reply, keepAliveMs, { headWithFirstEvent: true });
  return {
    send: (data) => sse.send(data),
    fail(status, message, detail) {
      if (sse.closed) return;
      if (!sse.headSent) return sse.answerInstead((res) => writeError(res, status, message, detail));
      sse.send(JSON.stringify(errorBody(status, message, detail)));
      sse.send(DONE);
      sse.end();
    },
    finish() {
      sse.send(DONE);
      sse.end();
    },
    onClose: (listener) => sse.onClose(listener),
  };
}
