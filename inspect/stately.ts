// `--inspect`: the supervisor and every child actor, live in the Stately inspector (@statelyai/inspect).
// The library's own server listens on every interface and opens a browser; ours listens on 127.0.0.1 only, opens
// nothing, and serves one page that frames the Stately inspector UI and posts it the events it reads from /events.
import { createServer, type ServerResponse } from 'node:http';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import { shortSessionId } from '../src/redact.ts';
import { hostUrl } from '../src/host-url.ts';
import { hostAllowed, listen } from './loopback.ts';

export const DEFAULT_INSPECT_PORT = 4850;
export const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect';
/** Events kept for a browser that opens the page late, beside the registration of every live actor. */
const REPLAYED_EVENTS = 500;
const REPLAYED_ACTORS = 300;

/** Keys that hold the hub's session id in our machines' contexts, events, inputs and outputs. */
const HUB_SESSION_KEYS = new Set(['sessionId', 'providerSessionId']);

/**
 * Callers' prompts and the models' answers are not the inspector's business (the inspector UI is a page from
 * stately.ai): wherever they sit in an event (a frame's request, an actor's input or output, a task's result),
 * the messages and the result are replaced by their size. The hub's session id is cut to its first 8 characters.
 * Works on plain JSON data; at the top of an event, `sessionId` is xstate's own actor id, kept as it is.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (depth > 0 && HUB_SESSION_KEYS.has(key) && typeof inner === 'string') out[key] = shortSessionId(inner);
    else if (key === 'messages' && Array.isArray(inner)) out[key] = `[${inner.length} messages]`;
    // An `openai` frame's body is the caller's whole call (prompt, input, tools…), not only its messages.
    else if (key === 'body' && (value as { kind?: unknown }).kind === 'openai') out[key] = '[caller body]';
    else if (key === 'result' && typeof inner === 'object' && inner !== null && ('body' in inner || 'chunk' in inner)) {
      out[key] = 'body' in inner ? { status: (inner as { status?: unknown }).status, body: '[result]' } : { chunk: '[chunk]' };
    } else out[key] = redact(inner, depth + 1);
  }
  return out;
}

/** JSON for any snapshot: actors and snapshots bring their own toJSON; a cycle becomes a marker, not a crash. */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner === 'function') return undefined;
    if (typeof inner === 'object' && inner !== null) {
      if (seen.has(inner)) return '[circular]';
      seen.add(inner);
    }
    return inner;
  });
}

/**
 * An inspector that hands each event to `sink` as plain JSON data, redacted. The library is loaded here, with
 * --inspect only: it weighs ~19 MB of a daemon's memory.
 */
export async function createStatelyInspector(sink: (event: StatelyInspectionEvent) => void) {
  const { createInspector } = await import('@statelyai/inspect');
  return createInspector({ send: (event) => sink(redact(JSON.parse(safeJson(event))) as StatelyInspectionEvent) });
}

export interface StatelyBridge {
  /** The page to open. */
  url: string;
  port: number;
  /** The observer to hand to startDaemon's `inspect`. */
  inspect: Observer<InspectionEvent>;
  close(): Promise<void>;
}

export async function startStatelyBridge(options: { host?: string; port?: number; inspectorUrl?: string } = {}): Promise<StatelyBridge> {
  const host = options.host ?? '127.0.0.1';
  const actors = new Map<string, string>();
  const recent: string[] = [];
  const clients = new Set<ServerResponse>();

  const inspector = await createStatelyInspector((event) => {
    const json = JSON.stringify(event);
    if (event.type === '@xstate.actor') {
      actors.set(event.sessionId, json);
      if (actors.size > REPLAYED_ACTORS) actors.delete(actors.keys().next().value!);
    } else {
      if (event.type === '@xstate.snapshot' && event.snapshot.status !== 'active') actors.delete(event.sessionId);
      recent.push(json);
      if (recent.length > REPLAYED_EVENTS) recent.shift();
    }
    for (const client of clients) client.write(`data: ${json}\n\n`);
  });

  const inspectorUrl = options.inspectorUrl ?? STATELY_INSPECTOR_URL;
  const page = bridgePage(inspectorUrl);
  const pageHeaders = bridgePageHeaders(new URL(inspectorUrl).origin);
  const server = createServer((request, response) => {
    if (!hostAllowed(host, request)) {
      response.writeHead(421, { 'content-type': 'text/plain' }).end('this inspector bridge answers only to 127.0.0.1 and localhost\n');
      return;
    }
    // Nothing here takes a request with effects: a form posted from another site gets nothing either.
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('this inspector bridge answers only GET\n');
      return;
    }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/') {
      response.writeHead(200, pageHeaders).end(request.method === 'HEAD' ? undefined : page);
    } else if (path === '/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      if (request.method === 'HEAD') return void response.end();
      for (const json of [...actors.values(), ...recent]) response.write(`data: ${json}\n\n`);
      clients.add(response);
      request.on('close', () => clients.delete(response));
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: open / to inspect\n');
    }
  });
  const port = await listen(server, options.port ?? DEFAULT_INSPECT_PORT, host);

  let closing: Promise<void> | undefined;
  return {
    url: `${hostUrl(host, port)}/`,
    port,
    inspect: inspector.inspect,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const client of clients) client.end();
        clients.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/**
 * The page may frame the inspector and nothing else, may not be framed itself (a page elsewhere could overlay it),
 * and talks to this server alone.
 */
function bridgePageHeaders(inspectorOrigin: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy': `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-src ${inspectorOrigin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  };
}

/**
 * The library's bridge page (iframe + postMessage once the inspector says it is connected), fed by SSE. It takes
 * messages from the inspector's frame alone and posts to the inspector's origin alone: any other window (one that
 * opened this page, say) could otherwise fake the handshake or read the actors' events.
 */
function bridgePage(inspectorUrl: string): string {
  const origin = new URL(inspectorUrl).origin;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>llm-registrar · Stately inspector</title>
  <style>
    html, body { margin: 0; height: 100%; font: 14px system-ui, sans-serif; }
    #note { position: fixed; bottom: 8px; right: 12px; padding: 4px 8px; background: #fffbe6; border: 1px solid #e6d48a; border-radius: 4px; }
    iframe { width: 100%; height: 100%; border: none; }
  </style>
</head>
<body>
  <iframe id="inspector" src="${inspectorUrl}"></iframe>
  <div id="note">waiting for the Stately inspector to load…</div>
  <script>
    const iframe = document.getElementById('inspector');
    const note = document.getElementById('note');
    const buffer = [];
    let connected = false;
    const inspectorOrigin = ${JSON.stringify(origin)};
    window.addEventListener('message', (message) => {
      if (message.origin !== inspectorOrigin || message.source !== iframe.contentWindow) return;
      if (message.data && message.data.type === '@statelyai.connected') {
        connected = true;
        note.remove();
        for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, inspectorOrigin);
      }
    });
    const events = new EventSource('/events');
    events.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (connected) iframe.contentWindow.postMessage(event, inspectorOrigin);
      else buffer.push(event);
    };
    events.onerror = () => { if (!connected) note.textContent = 'the registrar is not answering: is it still running?'; };
  </script>
</body>
</html>
`;
}
