// A streaming caller's SSE answer whose head waits for the first chunk, so a call that fails before anything was
// said gets its HTTP status (503, 502, a 4xx) instead of a 200 with an error inside; once a keep-alive is due (a
// wake can take a minute; proxies cut a silent line) the head goes out and a later failure is an error event.
import type { FastifyReply } from 'fastify';
import { DONE } from '../../protocol/index.ts';
import { errorBody, writeError, type ErrorDetail } from '../errors.ts';
import { formatEvent, KEEP_ALIVE_COMMENT } from '../sse.ts';

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
  reply.hijack();
  const res = reply.raw;
  let headSent = false;
  let closed = false;
  const listeners: Array<() => void> = [];
  const sendHead = (): void => {
    if (headSent || closed) return;
    headSent = true;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  };
  const write = (text: string): void => {
    if (closed) return;
    sendHead();
    res.write(text);
  };
  const keepAlive = setInterval(() => write(KEEP_ALIVE_COMMENT), keepAliveMs);
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    for (const listener of listeners.splice(0)) listener();
  };
  res.on('close', close);
  // A write to a peer that just vanished surfaces here; without a listener it would crash the process.
  res.on('error', close);
  const end = (): void => {
    if (closed) return;
    close();
    res.end();
  };

  return {
    send: (data) => write(formatEvent(data)),
    fail(status, message, detail) {
      if (closed) return;
      if (!headSent) {
        close();
        writeError(res, status, message, detail);
        return;
      }
      write(formatEvent(JSON.stringify(errorBody(status, message, detail))));
      write(formatEvent(DONE));
      end();
    },
    finish() {
      write(formatEvent(DONE));
      end();
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
  };
}
