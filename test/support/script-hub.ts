// A scriptable hub double on 127.0.0.1 speaking the registrar wire of SPEC.md §1–4 (§6's leave when scripted): the test pushes task frames
// (or raw bytes) down the stream, records every register, heartbeat and result, and scripts each answer, so a
// test can make the hub fail in exactly the way it needs.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LeaveRequest, RegisterRequest, TaskResult } from '../../src/protocol/index.ts';

/**
 * How the hub answers: a status with its usual JSON body; `hang` (never); `reset` (destroy the socket unread);
 * `take-and-reset` (a result is taken, then the socket dies before the answer: the registrar must retry it);
 * a raw answer (any status, body, content type and headers); or an answer given after a pause. A script may also return a
 * promise of an answer: the request is held until the test decides how the hub answers it.
 */
export type Answer =
  | number
  | 'hang'
  | 'reset'
  | 'take-and-reset'
  | { status: number; body: string; contentType?: string; headers?: Record<string, string> }
  | { delayMs: number; then: Answer };

/** One result POST as the hub saw it, whatever it answered. */
export interface ResultPost {
  taskId: string;
  body: TaskResult;
  answer: Answer;
}

export interface HubScript {
  /** `gone()` tells, while the answer is held, whether the registrar gave up on this request (its socket closed). */
  register?: (body: RegisterRequest, gone: () => boolean) => Answer | Promise<Answer>;
  heartbeat?: () => Answer | Promise<Answer>;
  /** Answer to a stream request; 200 opens the stream. */
  stream?: () => Answer | Promise<Answer>;
  result?: (taskId: string, body: TaskResult) => Answer | Promise<Answer>;
  /** Answer to a leave (SPEC.md §6); unset, the route is unknown (404), as on a base hub. */
  leave?: (body: LeaveRequest) => Answer | Promise<Answer>;
  /** Keep-alive comment period on open streams; 0 = none (a silent stream). */
  keepAliveMs?: number;
}

export interface ScriptHub {
  url: string;
  port: number;
  script: HubScript;
  registers: RegisterRequest[];
  heartbeats: number;
  /** Every leave received (whatever it was answered), with when it came. */
  leaves: { body: LeaveRequest; at: number }[];
  streamsOpened: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Every result body taken with 200, per task id, in arrival order. */
  results: Map<string, TaskResult[]>;
  /** Every result POST received, in arrival order, with the answer it got. */
  resultPosts: ResultPost[];
  /** Every frame written by `send` while a stream was open, in order. */
  sent: unknown[];
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
  /** Answers; resolves to the final status given (undefined for a hang or a reset). */
  const answer = async (res: http.ServerResponse, how: Answer, body: unknown = {}): Promise<number | undefined> => {
    if (typeof how === 'object' && 'delayMs' in how) {
      await new Promise((resolve) => setTimeout(resolve, how.delayMs));
      return answer(res, how.then, body);
    }
    if (how === 'hang') return undefined;
    if (how === 'reset' || how === 'take-and-reset') return void res.socket?.destroy();
    if (typeof how === 'object') {
      res.writeHead(how.status, { 'content-type': how.contentType ?? 'application/json', ...how.headers }).end(how.body);
      return how.status;
    }
    res.writeHead(how, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    return how;
  };

  const server = http.createServer(async (req, res) => {
    const url = req.url ?? '';
    if (req.method === 'POST' && url === '/api/v1/llms/_provider-register') {
      const body = (await readJson(req)) as RegisterRequest;
      hub.registers.push(body);
      let closed = false;
      res.on('close', () => (closed = true));
      return answer(res, await (script.register?.(body, () => closed) ?? 201), { providerSessionId: body.providerSessionId ?? sessionId });
    }
    if (req.method === 'POST' && url === '/api/v1/llms/_provider-heartbeat') {
      await readJson(req);
      hub.heartbeats++;
      return answer(res, await (script.heartbeat?.() ?? 200), { ok: true });
    }
    if (req.method === 'GET' && url === '/api/v1/llms/_provider-stream') {
      const how = await (script.stream?.() ?? 200);
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
    if (req.method === 'POST' && url === '/api/v1/llms/_provider-leave') {
      const body = (await readJson(req)) as LeaveRequest;
      hub.leaves.push({ body, at: Date.now() });
      return answer(res, await (script.leave?.(body) ?? 404), script.leave ? { ok: true } : { error: { message: 'no such route' } });
    }
    const result = /^\/api\/v1\/llms\/_provider-task\/([^/]+)\/result$/.exec(url);
    if (req.method === 'POST' && result) {
      const taskId = decodeURIComponent(result[1]);
      const body = (await readJson(req)) as TaskResult;
      const how = await (script.result?.(taskId, body) ?? 200);
      hub.resultPosts.push({ taskId, body, answer: how });
      const take = () => hub.results.set(taskId, [...(hub.results.get(taskId) ?? []), body]);
      if (how === 'take-and-reset') take();
      if ((await answer(res, how, { ok: true })) === 200) take();
      return;
    }
    answer(res, 404, { error: { message: 'no such route' } });
  });
  server.on('connection', (socket) => {
    hub.connections++;
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
    leaves: [],
    streamsOpened: 0,
    connections: 0,
    results: new Map(),
    resultPosts: [],
    sent: [],
    send: (frame, event = 'task') => {
      const written = hub.write(`event: ${event}\ndata: ${typeof frame === 'string' ? frame : JSON.stringify(frame)}\n\n`);
      if (written) hub.sent.push(frame);
      return written;
    },
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
