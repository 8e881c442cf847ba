// The built-in status server (127.0.0.1:4849 by default): `/` the live page, `/status` the same as JSON, `/events`
// the changes as Server-Sent Events, `/metrics` Prometheus text, `/machines` the machine definitions for drawings.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { providerMachine } from '../machines/provider.ts';
import { sessionMachine } from '../machines/session.ts';
import { taskMachine } from '../machines/task.ts';
import { hostAllowed, listen, urlOf } from './loopback.ts';
import { machineGraph } from './machine-graph.ts';
import type { RegistrarMetrics } from './metrics.ts';
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

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, 'text/plain', `status server error: ${(error as Error).message}\n`);
      else response.destroy();
    });
  });
  const port = await listen(server, options.port ?? DEFAULT_STATUS_PORT, host);
  const url = urlOf(host, port);

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
