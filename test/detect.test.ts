// Local server detection, against small doubles of Ollama, vLLM, llama.cpp and LM Studio on loopback ports.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { detectLocalServers, waitUntilLoaded, type ServerKind } from '../src/detect.ts';

type Route = { status?: number; body?: unknown; delayMs?: number; hang?: boolean };
const servers: Server[] = [];

async function double(routes: Record<string, Route>): Promise<number> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const route = routes[`${req.method} ${req.url}`];
    if (route?.hang) return;
    setTimeout(() => {
      res.writeHead(route ? (route.status ?? 200) : 404, { 'content-type': 'application/json' });
      res.end(route?.body === undefined ? '' : typeof route.body === 'string' ? route.body : JSON.stringify(route.body));
    }, route?.delayMs ?? 0);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Only the given ports are probed: whatever runs on this machine's default ports stays out of the tests. */
function only(ports: Partial<Record<ServerKind, number[]>>): Record<ServerKind, number[]> {
  return { ollama: [], vllm: [], 'llama.cpp': [], lmstudio: [], ...ports };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const ollamaRoutes = (models: string[]): Record<string, Route> => ({
  'GET /api/version': { body: { version: '0.5.7' } },
  'GET /api/tags': { body: { models: models.map((name) => ({ name, model: name, size: 1 })) } },
});
const openAiModels = (ids: string[]): Route => ({ body: { object: 'list', data: ids.map((id) => ({ id, object: 'model' })) } });

describe('detectLocalServers', () => {
  it('finds Ollama and lists its models, published with the native API at the root', async () => {
    const port = await double(ollamaRoutes(['llama3.2:3b', 'qwen2.5:7b']));
    expect(await detectLocalServers({ ports: only({ ollama: [port] }) })).toEqual([
      { kind: 'ollama', baseUrl: `http://127.0.0.1:${port}`, type: 'ollama', models: ['llama3.2:3b', 'qwen2.5:7b'] },
    ]);
  });

  it('finds vLLM once /health answers 200, published as OpenAI at /v1', async () => {
    const port = await double({ 'GET /health': {}, 'GET /v1/models': openAiModels(['Qwen/Qwen2.5-7B-Instruct']) });
    expect(await detectLocalServers({ ports: only({ vllm: [port] }) })).toEqual([
      { kind: 'vllm', baseUrl: `http://127.0.0.1:${port}/v1`, type: 'openai', models: ['Qwen/Qwen2.5-7B-Instruct'] },
    ]);
  });

  it('does not take a server without vLLM\'s /health for vLLM', async () => {
    const port = await double({ 'GET /v1/models': openAiModels(['m']) });
    expect(await detectLocalServers({ ports: only({ vllm: [port] }) })).toEqual([]);
  });

  it('finds llama.cpp on each of its ports, even while it is loading (503)', async () => {
    const ready = await double({ 'GET /health': { body: { status: 'ok' } }, 'GET /v1/models': openAiModels(['qwen2.5-7b-q4_k_m.gguf']) });
    const loading = await double({
      'GET /health': { status: 503, body: { error: { code: 503, message: 'Loading model' } } },
      'GET /v1/models': openAiModels(['/models/llama-3.1-8b.gguf']),
    });
    expect(await detectLocalServers({ ports: only({ 'llama.cpp': [ready, loading] }) })).toEqual([
      { kind: 'llama.cpp', baseUrl: `http://127.0.0.1:${ready}/v1`, type: 'openai', models: ['qwen2.5-7b-q4_k_m.gguf'] },
      { kind: 'llama.cpp', baseUrl: `http://127.0.0.1:${loading}/v1`, type: 'openai', models: ['/models/llama-3.1-8b.gguf'] },
    ]);
  });

  it('reports a loading llama.cpp that cannot list its model yet as a server that is loading', async () => {
    const port = await double({ 'GET /health': { status: 503 }, 'GET /v1/models': { status: 503, body: { error: 'Loading model' } } });
    expect(await detectLocalServers({ ports: only({ 'llama.cpp': [port] }) })).toEqual([
      { kind: 'llama.cpp', baseUrl: `http://127.0.0.1:${port}/v1`, type: 'openai', models: [], loading: true },
    ]);
  });

  it('waits for a loading server to list its model, saying how long it waited, within a bound', async () => {
    const routes: Record<string, Route> = { 'GET /health': { status: 503 }, 'GET /v1/models': { status: 503 } };
    const port = await double(routes);
    const [loading] = await detectLocalServers({ ports: only({ 'llama.cpp': [port] }) });
    setTimeout(() => (routes['GET /v1/models'] = openAiModels(['/models/tiny.gguf'])), 300);
    const waited: number[] = [];
    const ready = await waitUntilLoaded(loading, { timeoutMs: 5_000, pollMs: 50, onWait: (ms) => waited.push(ms) });
    expect(ready).toEqual({ kind: 'llama.cpp', baseUrl: `http://127.0.0.1:${port}/v1`, type: 'openai', models: ['/models/tiny.gguf'], loading: undefined });
    routes['GET /v1/models'] = { status: 503 };
    const still = await waitUntilLoaded(loading, { timeoutMs: 1_200, pollMs: 50, onWait: (ms) => waited.push(ms) });
    expect(still.loading).toBe(true);
    expect(waited.length).toBeGreaterThanOrEqual(1);
  });

  it('finds LM Studio by its model list alone', async () => {
    const port = await double({ 'GET /v1/models': openAiModels(['lmstudio-community/gemma-2-9b']) });
    expect(await detectLocalServers({ ports: only({ lmstudio: [port] }) })).toEqual([
      { kind: 'lmstudio', baseUrl: `http://127.0.0.1:${port}/v1`, type: 'openai', models: ['lmstudio-community/gemma-2-9b'] },
    ]);
  });

  it('orders the result by preference, not by who answered first', async () => {
    const ollama = await double({ ...ollamaRoutes(['a']), 'GET /api/tags': { ...ollamaRoutes(['a'])['GET /api/tags'], delayMs: 60 } });
    const vllm = await double({ 'GET /health': { delayMs: 30 }, 'GET /v1/models': openAiModels(['b']) });
    const llamaCpp = await double({ 'GET /health': {}, 'GET /v1/models': openAiModels(['c']) });
    const lmstudio = await double({ 'GET /v1/models': openAiModels(['d']) });
    const found = await detectLocalServers({ ports: { ollama: [ollama], vllm: [vllm], 'llama.cpp': [llamaCpp], lmstudio: [lmstudio] } });
    expect(found.map((server) => server.kind)).toEqual(['ollama', 'vllm', 'llama.cpp', 'lmstudio']);
  });

  it('skips a server that lists no model', async () => {
    const ollama = await double(ollamaRoutes([]));
    const lmstudio = await double({ 'GET /v1/models': openAiModels([]) });
    expect(await detectLocalServers({ ports: only({ ollama: [ollama], lmstudio: [lmstudio] }) })).toEqual([]);
  });

  it('reports a server that answers two kinds\' probes once, as the preferred kind', async () => {
    const port = await double({ 'GET /health': {}, 'GET /v1/models': openAiModels(['m']) });
    const found = await detectLocalServers({ ports: only({ vllm: [port], 'llama.cpp': [port], lmstudio: [port] }) });
    expect(found.map((server) => server.kind)).toEqual(['vllm']);
  });

  it('ignores answers that are not what the server would say', async () => {
    const garbage = await double({ 'GET /api/version': {}, 'GET /api/tags': { body: 'not json' }, 'GET /v1/models': { body: { data: 'nope' } } });
    const odd = await double({ 'GET /v1/models': { body: { data: [{ id: 7 }, null, { id: '' }, { id: 'real' }] } } });
    const found = await detectLocalServers({ ports: only({ ollama: [garbage], lmstudio: [garbage, odd] }) });
    expect(found).toEqual([{ kind: 'lmstudio', baseUrl: `http://127.0.0.1:${odd}/v1`, type: 'openai', models: ['real'] }]);
  });

  it('finds nothing, without throwing, when nothing listens', async () => {
    const port = await freePort();
    expect(await detectLocalServers({ ports: { ollama: [port], vllm: [port], 'llama.cpp': [port], lmstudio: [port] } })).toEqual([]);
  });

  it('gives up on a server that never answers within the timeout', async () => {
    const port = await double({ 'GET /api/version': { hang: true }, 'GET /v1/models': { hang: true } });
    const started = performance.now();
    const found = await detectLocalServers({ timeoutMs: 100, ports: only({ ollama: [port], lmstudio: [port] }) });
    expect(found).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
