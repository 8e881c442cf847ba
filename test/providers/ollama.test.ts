// The native Ollama provider: what it sends to /api/chat, and how it reads the NDJSON stream.
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import type { InferRequest } from '../../src/protocol/index.ts';
import { OllamaProvider } from '../../src/providers/index.ts';
import { echoReply, type ModelServer, type RawServer, replyTokens, startOllamaServer, startRawServer } from '../support/model-server.ts';
import { collect, never, textOf } from '../support/pieces.ts';

const request: InferRequest = { messages: [{ role: 'user', content: 'why is the sky blue' }] };

function provider(baseUrl: string): OllamaProvider {
  return new OllamaProvider(v.parse(ProviderConfig, { name: 'ollama', type: 'ollama', baseUrl, model: 'llama3.2' }));
}

const line = (content: string, done = false, extra: Record<string, unknown> = {}): string =>
  `${JSON.stringify({ model: 'llama3.2', created_at: '2025-01-01T00:00:00Z', message: { role: 'assistant', content }, done, ...extra })}\n`;

describe('Ollama provider', () => {
  let server: ModelServer | undefined;
  let raw: RawServer | undefined;

  afterEach(async () => {
    await server?.close();
    await raw?.close();
    server = undefined;
    raw = undefined;
  });

  it('posts to /api/chat with stream set and temperature and max_tokens as options', async () => {
    server = await startOllamaServer();

    await provider(server.baseUrl).complete({ ...request, temperature: 0.1, max_tokens: 64 }, never());
    await collect(provider(server.baseUrl).stream({ ...request, model: 'qwen2.5' }, never()));

    expect(server.requests.map((received) => received.path)).toEqual(['/api/chat', '/api/chat']);
    expect(server.requests[0].body).toEqual({ model: 'llama3.2', messages: request.messages, stream: false, options: { temperature: 0.1, num_predict: 64 } });
    expect(server.requests[1].body).toEqual({ model: 'qwen2.5', messages: request.messages, stream: true, options: {} });
  });

  it('estimates the prompt when Ollama leaves out prompt_eval_count, and counts pieces without eval_count', async () => {
    server = await startOllamaServer({ omitUsage: true });
    const reply = echoReply(request.messages);
    const promptTokens = Math.ceil(request.messages[0].content.length / 4);

    const completion = await provider(server.baseUrl).complete(request, never());
    const pieces = await collect(provider(server.baseUrl).stream(request, never()));

    expect(completion.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: Math.ceil(reply.length / 4), total_tokens: promptTokens + Math.ceil(reply.length / 4) });
    expect(pieces[pieces.length - 1].usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: replyTokens(reply).length,
      total_tokens: promptTokens + replyTokens(reply).length,
    });
  });

  it('reads lines split across reads and a last line without its newline', async () => {
    const first = line('Rayleigh');
    raw = await startRawServer(
      [first.slice(0, 20), first.slice(20) + line(' scattering').slice(0, 5), line(' scattering').slice(5), line('', true, { done_reason: 'stop', prompt_eval_count: 7, eval_count: 2 }).trimEnd()],
      { contentType: 'application/x-ndjson' },
    );

    const pieces = await collect(provider(raw.url).stream(request, never()));

    expect(textOf(pieces)).toBe('Rayleigh scattering');
    expect(pieces[pieces.length - 1]).toEqual({ finishReason: 'stop', usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } });
  });

  it('fails with the error of an {"error"} line sent with status 200', async () => {
    raw = await startRawServer([line('Rayleigh'), '{"error":"an error was encountered while running the model: CUDA error"}\n'], { contentType: 'application/x-ndjson' });

    await expect(collect(provider(raw.url).stream(request, never()))).rejects.toMatchObject({
      kind: 'protocol',
      message: 'an error was encountered while running the model: CUDA error',
    });
  });

  it('fails with "stream ended early" when no done line comes', async () => {
    raw = await startRawServer([line('Rayleigh'), line(' scattering')], { contentType: 'application/x-ndjson' });

    await expect(collect(provider(raw.url).stream(request, never()))).rejects.toMatchObject({ kind: 'protocol', message: 'stream ended early' });
  });

  it('fails with the error Ollama gives for an unknown model', async () => {
    raw = await startRawServer(['{"error":"model \\"llama9\\" not found, try pulling it first"}'], { status: 404, contentType: 'application/json' });

    await expect(provider(raw.url).complete(request, never())).rejects.toMatchObject({
      kind: 'http',
      status: 404,
      message: 'upstream answered 404: model "llama9" not found, try pulling it first',
    });
  });

  it('checks readiness with GET /api/version', async () => {
    raw = await startRawServer(['{"version":"0.6.0"}'], { contentType: 'application/json' });

    expect(await provider(raw.url).isAvailable()).toBe(true);
    expect(raw.requests.map((received) => received.path)).toEqual(['/api/version']);
  });
});
