// The scripted server itself, whatever its dialect: routes a request to the wire's endpoints, plays the script
// (delays, failures, hangs, cuts, holds), and counts what it saw.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { echoReply, replyTokens, TEST_MODEL, type Answer, type ModelScript, type ModelServer, type ReceivedRequest, type Wire } from './wire.ts';

/** How long after its last frame a stream's body ends. */
const BODY_END_LAG_MS = 2;

/** One chat call as the server tracks it. */
interface Call {
  ended: boolean;
  closedByServer: boolean;
}

class ScriptedModelServer implements ModelServer {
  url = '';
  baseUrl = '';
  port = 0;
  requests: ReceivedRequest[] = [];
  aborted = 0;
  inFlight = 0;
  connections = 0;
  private readonly server: http.Server;
  private readonly calls = new Set<Call>();
  private answers = 0;

  constructor(
    private readonly wire: Wire,
    public script: ModelScript,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, this.wire.errorBody(500, `model server double failed: ${String(error)}`));
        else res.destroy();
      });
    });
    this.server.on('connection', () => {
      this.connections++;
    });
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    this.baseUrl = this.wire.baseUrl(this.url);
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    for (const call of this.calls) call.closedByServer = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  restart(): Promise<void> {
    return this.listen(this.port);
  }

  close(): Promise<void> {
    return this.stop();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', this.url).pathname;
    const script = this.script;
    if (req.method === 'GET' && Object.hasOwn(this.wire.readiness, path)) {
      const refusal = script.notReady ? { status: 503, message: 'model is loading' } : this.wire.authorize(req);
      if (refusal) sendJson(res, refusal.status, this.wire.errorBody(refusal.status, refusal.message));
      else sendJson(res, 200, this.wire.readiness[path](script));
      return;
    }
    if (req.method === 'POST' && path === this.wire.chatPath) {
      await this.chat(this.wire, req, res, path, script);
      return;
    }
    if (req.method === 'POST' && this.wire.also && path === this.wire.also.chatPath) {
      await this.chat(this.wire.also, req, res, path, script);
      return;
    }
    if (req.method === 'POST' && path === this.wire.embeddings?.path) {
      const body = await readJson(req);
      this.requests.push({ path, body, headers: req.headers });
      if (script.failWith !== undefined) return sendJson(res, script.failWith, this.wire.errorBody(script.failWith, 'scripted failure'));
      sendJson(res, 200, this.wire.embeddings.answer(body as Record<string, unknown>));
      return;
    }
    sendJson(res, 404, this.wire.errorBody(404, `no route for ${req.method} ${path}`));
  }

  private async chat(wire: Wire, req: http.IncomingMessage, res: http.ServerResponse, path: string, script: ModelScript): Promise<void> {
    const call: Call = { ended: false, closedByServer: false };
    this.calls.add(call);
    this.inFlight++;
    res.on('close', () => {
      call.ended = true;
      this.calls.delete(call);
      this.inFlight--;
      if (!res.writableFinished && !call.closedByServer) this.aborted++;
    });
    const body = await readJson(req);
    const received: ReceivedRequest = { path, body, headers: req.headers };
    this.requests.push(received);
    if (script.hang || call.ended) return;
    if (script.hold) {
      script = (await script.hold(received)) ?? script;
      if (script.hang || call.ended) return;
    }

    const fail = (status: number, message: string): void => sendJson(res, status, wire.errorBody(status, message));
    if (script.notReady) return fail(503, 'model is loading');
    if (script.failWith !== undefined) return fail(script.failWith, 'scripted failure');
    const refusal = wire.authorize(req);
    if (refusal) return fail(refusal.status, refusal.message);
    if (typeof body !== 'object' || body === null) return fail(400, 'the body must be a JSON object');
    const request = body as Record<string, unknown>;
    const invalid = wire.validate(request);
    if (invalid) return fail(invalid.status, invalid.message);

    const answer = this.answer(wire, request, script);
    const delayMs = script.tokenDelayMs ?? 0;
    const streaming = typeof request.stream === 'boolean' ? request.stream : wire.streamsByDefault;
    // What was written reaches the client first (a crashed process's kernel sends it too), then the connection ends
    // without the end of the body.
    const crash = (): void => {
      call.closedByServer = true;
      req.socket.destroySoon();
    };

    if (!streaming) {
      const sent = Math.min(answer.tokens.length, script.closeMidStreamAfter ?? script.errorMidStreamAfter ?? Infinity);
      if (delayMs > 0 && sent > 0) await sleep(sent * delayMs);
      if (call.ended) return;
      if (script.closeMidStreamAfter !== undefined) return crash();
      if (script.errorMidStreamAfter !== undefined) return fail(500, 'scripted failure mid-answer');
      sendJson(res, 200, wire.complete(answer));
      return;
    }

    res.writeHead(200, { 'content-type': wire.streamContentType, 'cache-control': 'no-cache' });
    const head = wire.streamHead(answer);
    if (head === '') res.flushHeaders();
    else res.write(head);
    for (let i = 0; ; i++) {
      if (i === script.errorMidStreamAfter) {
        res.end(wire.streamError(answer, 'scripted failure mid-stream'));
        return;
      }
      if (i === script.closeMidStreamAfter) return crash();
      if (i === answer.tokens.length) break;
      if (delayMs > 0) {
        await sleep(delayMs);
        if (call.ended) return;
      }
      res.write(wire.streamToken(answer, answer.tokens[i]));
    }
    // The end of the body follows the last frame a moment later, as it can over a real network: a client that waits
    // for it, or that throws the connection away instead of reading it, shows up in timings and in `connections`.
    res.write(wire.streamTail(answer));
    setTimeout(() => res.end(), BODY_END_LAG_MS);
  }

  private answer(wire: Wire, request: Record<string, unknown>, script: ModelScript): Answer {
    const conversation = wire.conversation(request);
    const callsTools = script.toolCalls !== undefined && Array.isArray(request.tools) && conversation.at(-1)?.role !== 'tool' && !isToolResultTurn(request);
    const text = callsTools ? '' : (script.reply ?? echoReply)(conversation);
    const all = replyTokens(text);
    const max = wire.maxTokens(request);
    const cut = typeof max === 'number' && max < all.length;
    const tokens = cut ? all.slice(0, max) : all;
    let promptTokens = 0;
    for (const turn of conversation) promptTokens += replyTokens(turn.content).length;
    this.answers++;
    return {
      id: `answer-${this.answers}`,
      created: Math.floor(Date.now() / 1000),
      model: typeof request.model === 'string' ? request.model : TEST_MODEL,
      request,
      text: cut ? tokens.join('') : text,
      tokens,
      promptTokens,
      cut,
      omitUsage: script.omitUsage === true,
      toolCalls: callsTools ? script.toolCalls!.map((call, i) => ({ id: `call_${this.answers}_${i}`, ...call })) : [],
      thinking: request.think ? script.thinking : undefined,
    };
  }
}

/** Anthropic's tool results come back as a user turn of `tool_result` blocks. */
function isToolResultTurn(request: Record<string, unknown>): boolean {
  const last = (request.messages as { content?: unknown }[] | undefined)?.at(-1)?.content;
  return Array.isArray(last) && last.some((block: { type?: unknown }) => block?.type === 'tool_result');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(undefined);
      }
    });
    req.on('close', () => resolve(undefined));
  });
}

export async function start(wire: Wire, script: ModelScript, port: number): Promise<ModelServer> {
  const server = new ScriptedModelServer(wire, script);
  await server.listen(port);
  return server;
}
