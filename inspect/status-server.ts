// The built-in status server (127.0.0.1:4849 by default): `/` the live page, `/status` the same as JSON, `/events`
// the changes as Server-Sent Events, `/metrics` Prometheus text, `/machines` the machine definitions for drawings;
// `POST /pause` and `/resume` (the only writes) take the run's status token, from a loopback name, and no other origin.
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { providerMachine } from '../machines/provider.ts';
import { sessionMachine } from '../machines/session.ts';
import { taskMachine } from '../machines/task.ts';
import { hostUrl } from '../src/host-url.ts';
import { hostAllowed, listen } from './loopback.ts';
import { machineGraph } from './machine-graph.ts';
import type { RegistrarMetrics } from './metrics.ts';
import type { PauseControl } from './pause-control.ts';
import type { StatusTracker } from './tracker.ts';

export const DEFAULT_STATUS_PORT = 4849;

export interface StatusServerOptions {
  tracker: StatusTracker;
  metrics: RegistrarMetrics;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 4849; 0 picks a free port. */
  port?: number;
  /** How long changes are gathered before one SSE update goes out. Default 100 ms. */
  coalesceMs?: number;
  /** SSE keep-alive comment interval. Default 15 000 ms. */
  keepAliveMs?: number;
  /** What the writes demand as `Authorization: Bearer …`; without it they are refused (403). */
  writeToken?: string;
  /** Who carries out pause and resume; asked per request (the daemon starts after this server). */
  control?: () => PauseControl | undefined;
}

export interface StatusServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const PAGE_PATH = new URL('./status-page.html', import.meta.url);
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // One static file with its script and style inline; it talks to this server and nothing else.
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** Bytes of a write's JSON body. */
const MAX_WRITE_BYTES = 4096;
const MAX_NAMES = 1024;

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_WRITE_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `{ names?: string[], forMs?: number }`, or what is wrong with it. */
function parseWrite(text: string): { names: string[]; forMs?: number } | string {
  let body: unknown;
  try {
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    return 'the body is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be an object: { "names"?: [...], "forMs"?: n }';
  const { names = [], forMs } = body as { names?: unknown; forMs?: unknown };
  if (!Array.isArray(names) || names.length > MAX_NAMES || !names.every((name) => typeof name === 'string' && name.length > 0 && name.length <= 256)) {
    return `names must be a list of at most ${MAX_NAMES} provider names`;
  }
  if (forMs !== undefined && typeof forMs !== 'number') return 'forMs must be a number of milliseconds';
  return { names: names as string[], ...(forMs === undefined ? {} : { forMs }) };
}

export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const { tracker, metrics } = options;
  const host = options.host ?? '127.0.0.1';
  const coalesceMs = options.coalesceMs ?? 100;
  const page = await readFile(PAGE_PATH);
  const machines = JSON.stringify({ session: machineGraph(sessionMachine), provider: machineGraph(providerMachine), task: machineGraph(taskMachine) });
  const clients = new Set<ServerResponse>();

  let pending: NodeJS.Timeout | undefined;
  const flush = () => {
    pending = undefined;
    if (clients.size === 0) return;
    const frame = `event: status\ndata: ${JSON.stringify(tracker.report())}\n\n`;
    for (const client of clients) client.write(frame);
  };
  // Nothing is built while nobody watches; while someone does, one update per `coalesceMs` at most.
  const stopListening = tracker.onChange(() => {
    if (clients.size > 0 && pending === undefined) pending = setTimeout(flush, coalesceMs);
  });
  const keepAlive = setInterval(() => {
    for (const client of clients) client.write(': keep-alive\n\n');
  }, options.keepAliveMs ?? 15_000);
  keepAlive.unref();

  const send = (response: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
    response.end(body);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (!hostAllowed(host, request)) return send(response, 421, 'text/plain', 'this status server answers only to 127.0.0.1 and localhost\n');
    if (request.method === 'POST') return handleWrite(request, response);
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain', 'only GET\n', { allow: 'GET' });
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    switch (path) {
      case '/':
        response.writeHead(200, PAGE_HEADERS);
        response.end(page);
        return;
      case '/status':
        return send(response, 200, 'application/json', JSON.stringify(tracker.report(), null, 2));
      case '/machines':
        return send(response, 200, 'application/json', machines);
      case '/metrics':
        return send(response, 200, metrics.contentType, await metrics.text());
      case '/events':
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        response.write(`retry: 1000\nevent: status\ndata: ${JSON.stringify(tracker.report())}\n\n`);
        clients.add(response);
        request.on('close', () => clients.delete(response));
        return;
      default:
        return send(response, 404, 'text/plain', 'not found: try /, /status, /events, /metrics or /machines\n');
    }
  };

  const json = (response: ServerResponse, status: number, body: unknown) => send(response, status, 'application/json', JSON.stringify(body));
  const handleWrite = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== '/pause' && path !== '/resume') return send(response, 405, 'text/plain', 'only GET here; POST /pause and /resume\n', { allow: 'GET' });
    // A page of another origin may send a POST (a form, a fetch) even though it cannot read the answer: refuse it.
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${request.headers.host ?? ''}`) return json(response, 403, { error: 'writes are taken from this page only, not from another origin' });
    if (request.headers['sec-fetch-site'] === 'cross-site') return json(response, 403, { error: 'writes are taken from this page only, not from another site' });
    const given = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (options.writeToken === undefined) return json(response, 403, { error: 'this status server takes no writes (it was started without a state dir)' });
    if (given === undefined || !sameToken(given, options.writeToken)) {
      return json(response, 401, { error: 'a valid status token is required: it is in the status-token file of the daemon\'s state dir' });
    }
    if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) return json(response, 415, { error: 'send the body as application/json' });
    const text = await readBody(request);
    if (text === undefined) return json(response, 413, { error: `the body is over ${MAX_WRITE_BYTES} bytes` });
    const write = parseWrite(text);
    if (typeof write === 'string') return json(response, 400, { error: write });
    const control = options.control?.();
    if (!control) return json(response, 409, { error: 'the daemon is not running yet' });
    const answer = path === '/pause' ? control.pause(write.names, write.forMs) : control.resume(write.names);
    if (!answer.ok) return json(response, answer.status, { error: answer.message });
    return json(response, 200, { [path === '/pause' ? 'paused' : 'resumed']: answer.names, ...(answer.until === undefined ? {} : { until: new Date(answer.until).toISOString() }) });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, 'text/plain', `status server error: ${(error as Error).message}\n`);
      else response.destroy();
    });
  });
  const port = await listen(server, options.port ?? DEFAULT_STATUS_PORT, host);
  const url = hostUrl(host, port);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopListening();
        clearInterval(keepAlive);
        clearTimeout(pending);
        for (const client of clients) client.end();
        clients.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
