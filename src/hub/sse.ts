// Server-Sent Events on a fastify reply: hijack (else nothing reaches the client, see ARCHITECTURE.md pitfalls),
// headers flushed at once, keep-alive comments, and one end whoever asks first (us, the peer, or a socket error).
import type { FastifyReply } from 'fastify';

export interface SseStream {
  readonly closed: boolean;
  /** One event; `data` may hold newlines (split into several `data:` lines, which the reader joins back). */
  send(data: string, eventName?: string): void;
  /** Runs once when the stream ends, by `end()` or because the peer went away. */
  onClose(listener: () => void): void;
  end(): void;
}

export function formatEvent(data: string, eventName?: string): string {
  const head = eventName === undefined ? '' : `event: ${eventName}\n`;
  return `${head}${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;
}

export const KEEP_ALIVE_COMMENT = ': keep-alive\n\n';

export function openSse(reply: FastifyReply, keepAliveMs: number): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();

  let closed = false;
  const listeners: Array<() => void> = [];
  const write = (text: string): void => {
    if (!closed) res.write(text);
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
  };
}
