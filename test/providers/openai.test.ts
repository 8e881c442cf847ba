// The OpenAI-compatible provider: what it sends, and how it reads the SSE dialects of vLLM, llama.cpp and friends.
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import type { InferRequest } from '../../src/protocol/index.ts';
import { OpenAiProvider, UpstreamError } from '../../src/providers/index.ts';
import { echoReply, type ModelServer, type RawServer, replyTokens, startOpenAiServer, startRawServer } from '../support/model-server.ts';
import { collect, never, textOf } from '../support/pieces.ts';

const request: InferRequest = {
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'name three rivers' },
  ],
};

function provider(baseUrl: string, extra: Partial<{ apiKey: string; model: string }> = {}): OpenAiProvider {
  return new OpenAiProvider(v.parse(ProviderConfig, { name: 'vllm', type: 'openai', baseUrl, model: 'qwen-7b', ...extra }));
}

const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;

describe('OpenAI-compatible provider', () => {
  let server: ModelServer | undefined;
  let raw: RawServer | undefined;

  afterEach(async () => {
    await server?.close();
    await raw?.close();
    server = undefined;
    raw = undefined;
  });

  it('posts the chat request to baseUrl/chat/completions with the bearer key and the configured model', async () => {
    server = await startOpenAiServer();

    await provider(server.baseUrl, { apiKey: 'sk-local' }).complete({ ...request, temperature: 0.2, max_tokens: 50 }, never());
    await collect(provider(server.baseUrl, { apiKey: 'sk-local' }).stream(request, never()));

    expect(server.requests.map((received) => received.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
    expect(server.requests[0].headers.authorization).toBe('Bearer sk-local');
    expect(server.requests[0].body).toEqual({ model: 'qwen-7b', messages: request.messages, temperature: 0.2, max_tokens: 50, stream: false });
    expect(server.requests[1].body).toEqual({ model: 'qwen-7b', messages: request.messages, stream: true, stream_options: { include_usage: true } });
  });

  it('sends the request model instead of the configured one when the request names one', async () => {
    server = await startOpenAiServer();

    await provider(server.baseUrl).complete({ ...request, model: 'qwen-14b' }, never());

    expect(server.requests[0].body).toMatchObject({ model: 'qwen-14b' });
    expect(server.requests[0].headers.authorization).toBeUndefined();
  });

  it('estimates usage at four characters a token when the server reports none', async () => {
    server = await startOpenAiServer({ omitUsage: true });
    const reply = echoReply(request.messages);
    const promptChars = request.messages.reduce((sum, message) => sum + message.content.length, 0);

    const completion = await provider(server.baseUrl).complete(request, never());
    const pieces = await collect(provider(server.baseUrl).stream(request, never()));

    expect(completion.usage).toEqual({
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: Math.ceil(reply.length / 4),
      total_tokens: Math.ceil(promptChars / 4) + Math.ceil(reply.length / 4),
    });
    // A stream without usage counts one token per delta.
    expect(pieces[pieces.length - 1].usage).toEqual({
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: replyTokens(reply).length,
      total_tokens: Math.ceil(promptChars / 4) + replyTokens(reply).length,
    });
  });

  it('never puts the api key in an error message', async () => {
    server = await startOpenAiServer({ failWith: 401 });
    const keyed = provider(server.baseUrl, { apiKey: 'sk-very-secret' });

    const httpError = await keyed.complete(request, never()).catch((error: unknown) => error);
    await server.stop();
    const unreachable = await keyed.complete(request, never()).catch((error: unknown) => error);

    expect(httpError).toMatchObject({ kind: 'http', status: 401 });
    expect(unreachable).toMatchObject({ kind: 'unreachable' });
    for (const error of [httpError, unreachable]) expect(String((error as Error).message)).not.toContain('sk-very-secret');
  });

  it('reads frames split across reads, CRLF line ends, comments and a character split between two reads', async () => {
    const euro = Buffer.from('€');
    raw = await startRawServer([
      ': keep-alive\r\n\r\n',
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Price: 5' }).slice(0, 30),
      chunk({ content: 'Price: 5' }).slice(30),
      Buffer.concat([Buffer.from(chunk({ content: ' €' }).replace(/\n/g, '\r\n').split('€')[0]), euro.subarray(0, 1)]),
      Buffer.concat([euro.subarray(1), Buffer.from(chunk({ content: ' €' }).replace(/\n/g, '\r\n').split('€')[1])]),
      chunk({}, 'stop'),
      'data: [DONE]\n\n',
    ]);

    const pieces = await collect(provider(`${raw.url}/v1`).stream(request, never()));

    expect(textOf(pieces)).toBe('Price: 5 €');
    expect(pieces[pieces.length - 1].finishReason).toBe('stop');
  });

  it('fails with the server message when llama.cpp reports an error as an `error:` field mid-stream', async () => {
    raw = await startRawServer([
      chunk({ content: 'Once' }),
      'error: {"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}\n\n',
    ]);

    const stream = provider(`${raw.url}/v1`).stream(request, never());
    const error = await collect(stream).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'protocol', message: 'the request exceeds the available context size' });
  });

  it('fails with a protocol error on an `event: error` frame', async () => {
    raw = await startRawServer([chunk({ content: 'Once' }), 'event: error\ndata: {"message":"worker crashed"}\n\n', 'data: [DONE]\n\n']);

    await expect(collect(provider(`${raw.url}/v1`).stream(request, never()))).rejects.toMatchObject({ kind: 'protocol', message: 'worker crashed' });
  });

  it('fails with "stream ended early" when the body ends with neither [DONE] nor a finish reason', async () => {
    raw = await startRawServer([chunk({ content: 'Once upon' }), chunk({ content: ' a time' })]);

    await expect(collect(provider(`${raw.url}/v1`).stream(request, never()))).rejects.toMatchObject({ kind: 'protocol', message: 'stream ended early' });
  });

  it('accepts a stream that gives a finish reason but no [DONE]', async () => {
    raw = await startRawServer([chunk({ content: 'Once upon' }), chunk({ content: ' a time' }, 'stop')]);

    const pieces = await collect(provider(`${raw.url}/v1`).stream(request, never()));

    expect(textOf(pieces)).toBe('Once upon a time');
    expect(pieces[pieces.length - 1].finishReason).toBe('stop');
  });

  it('fails with a protocol error on a data frame that is not JSON', async () => {
    raw = await startRawServer([chunk({ content: 'Once' }), 'data: {"choices": [\n\n', 'data: [DONE]\n\n']);

    await expect(collect(provider(`${raw.url}/v1`).stream(request, never()))).rejects.toMatchObject({
      kind: 'protocol',
      message: expect.stringContaining('not JSON'),
    });
  });

  it('fails with a protocol error on a plain answer that is not JSON', async () => {
    raw = await startRawServer(['<html>proxy error</html>'], { contentType: 'text/html' });

    await expect(provider(`${raw.url}/v1`).complete(request, never())).rejects.toMatchObject({
      kind: 'protocol',
      message: expect.stringContaining('<html>proxy error</html>'),
    });
  });

  it('is available only when GET baseUrl/models answers 2xx', async () => {
    server = await startOpenAiServer();
    expect(await provider(server.baseUrl).isAvailable()).toBe(true);
    expect(await provider(`${server.url}/not-v1`).isAvailable()).toBe(false);
  });
});
