// The caller side of every benchmark: a lean keep-alive HTTP client, plain and streamed chat calls timed, direct and
// relayed calls interleaved, a closed loop of concurrent calls.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export const TOKEN = 'bench-admin-token';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const authHeaders = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

// The caller side: node:http with a keep-alive agent costs far less CPU per call than fetch, so the load generator
// takes as little as possible of the two cores from the processes being measured.
const agents = new Map<number, http.Agent>();
function agentFor(maxSockets: number): http.Agent {
  let agent = agents.get(maxSockets);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    agents.set(maxSockets, agent);
  }
  return agent;
}

export interface Reply {
  status: number;
  body: string;
}

export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; sockets?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: agentFor(options.sockets ?? 16) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A chat call's body as a caller sends it. */
export function chatBody(model: string, stream = false): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'Say something short.' }], stream });
}

/** A typical coding agent's call: a system prompt and 32 function tools (~20 kB of JSON). */
export function agentBody(model: string): string {
  const tools = Array.from({ length: 32 }, (_, i) => ({
    type: 'function',
    function: {
      name: `tool_${i}`,
      description: `Tool number ${i}: does one thing to the repository and reports what it changed, in a few words. `.repeat(4),
      parameters: {
        type: 'object',
        properties: { path: { type: 'string', description: 'a path in the repository' }, pattern: { type: 'string' }, limit: { type: 'integer', minimum: 1 } },
        required: ['path'],
      },
    },
  }));
  const messages = [
    { role: 'system', content: 'You are a coding agent working in a repository. Use the tools to read and change files. '.repeat(12) },
    { role: 'user', content: 'Fix the failing test.' },
  ];
  return JSON.stringify({ model, messages, tools, tool_choice: 'auto', temperature: 0.2 });
}

/** One non-streaming chat completion; throws unless it answered 200. Returns its duration in ms. */
export async function timedChat(baseUrl: string, model: string, sockets = 16, body = chatBody(model)): Promise<number> {
  const started = performance.now();
  const reply = await request(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: authHeaders, body, sockets });
  const ms = performance.now() - started;
  if (reply.status !== 200) throw new Error(`chat call answered ${reply.status}: ${reply.body.slice(0, 300)}`);
  return ms;
}

export interface StreamTiming {
  /** ms from the request to each content delta, by cumulative token count (index k: token k arrived). */
  tokenArrivals: number[];
  /** SSE data events that carried content. */
  contentEvents: number;
  totalMs: number;
}

/** One streaming chat call; token k of the answer is counted when the text holding it arrives. */
export function timedStream(baseUrl: string, model: string, sockets = 16): Promise<StreamTiming> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const arrivals: number[] = [];
    let contentEvents = 0;
    let buffer = '';
    const req = http.request(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: authHeaders, agent: agentFor(sockets) }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`streaming call answered ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const now = performance.now() - started;
        buffer += text;
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          for (const line of block.split('\n')) {
            if (!line.startsWith('data:')) continue;
            const data = line.slice(5).trim();
            if (data === '[DONE]') continue;
            const content = (JSON.parse(data) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content;
            if (!content) continue;
            contentEvents++;
            const tokens = content.split('tok').length - 1;
            for (let i = 0; i < tokens; i++) arrivals.push(now);
          }
        }
      });
      res.on('end', () => resolve({ tokenArrivals: arrivals, contentEvents, totalMs: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(chatBody(model, true));
  });
}

/**
 * `rounds` pairs of the same call, straight to the model server then through the relay, so both see the same
 * machine; each call after `idleMs` of quiet when given.
 */
export async function interleaved<T>(rounds: number, direct: () => Promise<T>, relayed: () => Promise<T>, idleMs = 0): Promise<{ direct: T[]; relayed: T[] }> {
  const result = { direct: [] as T[], relayed: [] as T[] };
  for (let i = 0; i < rounds; i++) {
    if (idleMs > 0) await sleep(idleMs);
    result.direct.push(await direct());
    if (idleMs > 0) await sleep(idleMs);
    result.relayed.push(await relayed());
  }
  return result;
}


/** Keeps `concurrency` calls in flight for `durationMs`; returns how many completed and every latency. */
export async function closedLoop(concurrency: number, durationMs: number, call: () => Promise<number>): Promise<{ completed: number; latencies: number[]; seconds: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        latencies.push(await call());
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { completed: latencies.length, latencies, seconds: (performance.now() - started) / 1000, errors };
}
