// A server that speaks no dialect of its own: fixed body pieces, for what the scripted doubles never produce.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { readJson } from './server.ts';
import type { ReceivedRequest } from './wire.ts';

export interface RawServer {
  url: string;
  port: number;
  /** Requests received (of any path), in arrival order. */
  requests: ReceivedRequest[];
  /** Mutable: what the next requests are answered with (a request reads it when it arrives). */
  pieces: (string | Buffer)[];
  close(): Promise<void>;
}

/**
 * A server that answers every request with the given body pieces, `pauseMs` apart so they reach the client in
 * separate reads: for wire dialects and malformed answers that the scripted doubles never produce.
 */
export async function startRawServer(
  pieces: (string | Buffer)[],
  options: { status?: number; contentType?: string; pauseMs?: number } = {},
): Promise<RawServer> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    requests.push({ path: new URL(req.url ?? '/', 'http://raw').pathname, body: await readJson(req), headers: req.headers });
    res.writeHead(options.status ?? 200, { 'content-type': options.contentType ?? 'text/event-stream' });
    for (const piece of raw.pieces) {
      res.write(piece);
      await sleep(options.pauseMs ?? 3);
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const raw: RawServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    pieces,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return raw;
}
