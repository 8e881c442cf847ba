// A scriptable hub double on 127.0.0.1 speaking the registrar wire of SPEC.md §1–4: the test pushes task frames
// (or raw bytes) down the stream, records every register, heartbeat and result, and scripts each answer, so a
// test can make the hub fail in exactly the way it needs.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RegisterRequest, TaskResult } from '../../src/protocol/index.ts';

export type Answer = number | 'hang' | 'reset';

export interface HubScript {
  register?: (body: RegisterRequest) => Answer;
  heartbeat?: () => Answer;
  /** Answer to a stream request; 200 opens the stream. */
  stream?: () => Answer;
  result?: (taskId: string, body: TaskResult) => Answer;
  /** Keep-alive comment period on open streams; 0 = none (a silent stream). */
  keepAliveMs?: number;
}

export interface ScriptHub {
  url: string;
  port: number;
  script: HubScript;
  registers: RegisterRequest[];
  heartbeats: number;
  streamsOpened: number;
  /** Every result body taken with 200, per task id, in arrival order. */
  results: Map<string, TaskResult[]>;
  /** Sends a task frame (an object is JSON-encoded) on the open stream; false when none is open. */
  send(frame: unknown, event?: string): boolean;
  /** Writes raw bytes on the open stream. */
  write(raw: string): boolean;
  /** Destroys the open stream's socket. */
  cut(): void;
  waitForStream(): Promise<void>;
  close(): Promise<void>;
}

export async function startScriptHub(script: HubScript = {}, sessionId = 'script-session'): Promise<ScriptHub> {
  let stream: http.ServerResponse | undefined;
  let streamWaiters: (() => void)[] = [];
  const sockets = new Set<import('node:net').Socket>();

  const readJson = async (req: http.IncomingMessage): Promise<any> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  };
  const answer = (res: http.ServerResponse, how: Answer, body: unknown = {}) => {
    if (how === 'hang') return;
    if (how === 'reset') return void res.socket?.destroy();
    res.writeHead(how, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = http.createServer(async (req, res) => {
    const url = req.url ?? '';
    if (req.method === 'POST' && url === '/api/v1/llms/_provider-register') {
      const body = (await readJson(req)) as RegisterRequest;
      hub.registers.push(body);
      return answer(res, script.register?.(body) ?? 201, { providerSessionId: body.providerSessionId ?? sessionId });
    }
    if (req.method === 'POST' && url === '/api/v1/llms/_provider-heartbeat') {
      await readJson(req);
      hub.heartbeats++;
      return answer(res, script.heartbeat?.() ?? 200, { ok: true });
    }
    if (req.method === 'GET' && url === '/api/v1/llms/_provider-stream') {
      const how = script.stream?.() ?? 200;
      if (how !== 200) return answer(res, how, { error: { message: 'scripted' } });
      stream?.destroy();
      hub.streamsOpened++;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      stream = res;
      const keepAlive = script.keepAliveMs ? setInterval(() => res.write(': keep-alive\n\n'), script.keepAliveMs) : undefined;
      res.on('close', () => {
        clearInterval(keepAlive);
        if (stream === res) stream = undefined;
      });
      for (const wake of streamWaiters) wake();
      streamWaiters = [];
      return;
    }
    const result = /^\/api\/v1\/llms\/_provider-task\/([^/]+)\/result$/.exec(url);
    if (req.method === 'POST' && result) {
      const taskId = decodeURIComponent(result[1]);
      const body = (await readJson(req)) as TaskResult;
      const how = script.result?.(taskId, body) ?? 200;
      if (how === 200) hub.results.set(taskId, [...(hub.results.get(taskId) ?? []), body]);
      return answer(res, how, { ok: true });
    }
    answer(res, 404, { error: { message: 'no such route' } });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const hub: ScriptHub = {
    url: `http://127.0.0.1:${port}`,
    port,
    script,
    registers: [],
    heartbeats: 0,
    streamsOpened: 0,
    results: new Map(),
    send: (frame, event = 'task') => hub.write(`event: ${event}\ndata: ${typeof frame === 'string' ? frame : JSON.stringify(frame)}\n\n`),
    write: (raw) => (stream ? (stream.write(raw), true) : false),
    cut: () => stream?.socket?.destroy(),
    waitForStream: () => (stream ? Promise.resolve() : new Promise((resolve) => streamWaiters.push(resolve))),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return hub;
}
