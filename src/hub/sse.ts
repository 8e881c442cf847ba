// Server-Sent Events on a fastify reply: hijack (else nothing reaches the client, see ARCHITECTURE.md pitfalls),
// keep-alive comments, events written in the same tick leaving in one socket write, and one end whoever asks first
// (us, the peer, or a socket error). The head goes out at once, or with the first event for a caller's answer.
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface SseStream {
  readonly closed: boolean;
  /** Whether the 200 head has gone out (always, unless the stream was opened with `headWithFirstEvent`). */
  readonly headSent: boolean;
  /** One event; `data` may hold newlines (split into several `data:` lines, which the reader joins back). */
  send(data: string, eventName?: string): void;
  /** Runs once when the stream ends, by `end()`, `answerInstead()` or because the peer went away. */
  onClose(listener: () => void): void;
  end(): void;
  /** Before the head went out: ends the stream and lets `write` answer on the response instead (an error status). */
  answerInstead(write: (res: ServerResponse) => void): void;
}

export interface SseOptions {
  /** The head waits for the first event (or keep-alive), so a call that fails before it can still answer a status. */
  headWithFirstEvent?: boolean;
}

export function formatEvent(data: string, eventName?: string): string {
  const head = eventName === undefined ? '' : `event: ${eventName}\n`;
  // JSON (every payload we relay) has no raw line breaks: the common case needs no split.
  if (data.indexOf('\n') < 0 && data.indexOf('\r') < 0) return `${head}data: ${data}\n\n`;
  return `${head}${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;
}

export const KEEP_ALIVE_COMMENT = ': keep-alive\n\n';

const SSE_HEAD = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' };

export function openSse(reply: FastifyReply, keepAliveMs: number, options: SseOptions = {}): SseStream {
  reply.hijack();
  const res = reply.raw;
  let headSent = false;
  let closed = false;
  let corked = false;
  const listeners: Array<() => void> = [];
  const sendHead = (): void => {
    if (headSent) return;
    headSent = true;
    res.writeHead(200, SSE_HEAD);
  };
  if (!options.headWithFirstEvent) {
    sendHead();
    res.flushHeaders();
  }
  // The lines of one upload read, or the frames of one dispatch, come in one tick: one write (one syscall) for all.
  const uncork = (): void => {
    corked = false;
    res.uncork();
  };
  const write = (text: string): void => {
    if (closed) return;
    sendHead();
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(uncork);
    }
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

  return {
    get closed() {
      return closed;
    },
    get headSent() {
      return headSent;
    },
    send(data, eventName) {
      write(formatEvent(data, eventName));
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
    end() {
      if (closed) return;
      close();
      res.end();
    },
    answerInstead(answer) {
      if (closed || headSent) return;
      close();
      answer(res);
    },
  };
}
