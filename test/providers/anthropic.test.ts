// The Anthropic provider: Messages API headers and body, and the event stream mapped to OpenAI terms.
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import type { InferRequest } from '../../src/protocol/index.ts';
import { toAnthropicMessages } from '../../src/providers/anthropic.ts';
import { AnthropicProvider, UpstreamError } from '../../src/providers/index.ts';
import { type ModelServer, type RawServer, startAnthropicServer, startRawServer } from '../support/model-server.ts';
import { collect, never } from '../support/pieces.ts';

const request: InferRequest = {
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'list two planets' },
  ],
};

function provider(baseUrl: string, options: { withoutKey?: boolean } = {}): AnthropicProvider {
  const apiKey = options.withoutKey ? undefined : 'sk-ant-test';
  return new AnthropicProvider(v.parse(ProviderConfig, { name: 'claude', type: 'anthropic', baseUrl, model: 'claude-test', apiKey }));
}

const event = (type: string, data: Record<string, unknown> = {}): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

describe('Anthropic provider', () => {
  let server: ModelServer | undefined;
  let raw: RawServer | undefined;

  afterEach(async () => {
    await server?.close();
    await raw?.close();
    server = undefined;
    raw = undefined;
  });

  it('posts to /v1/messages with the key and version headers, the system prompt apart and max_tokens 1024 by default', async () => {
    server = await startAnthropicServer({ reply: (messages) => messages.map((message) => `${message.role}:${message.content}`).join(' | ') });

    const completion = await provider(server.baseUrl).complete(request, never());
    await collect(provider(server.baseUrl).stream({ ...request, max_tokens: 20, temperature: 0.5 }, never()));

    expect(server.requests[0].path).toBe('/v1/messages');
    expect(server.requests[0].headers).toMatchObject({ 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' });
    expect(server.requests[0].headers.authorization).toBeUndefined();
    expect(server.requests[0].body).toEqual({
      model: 'claude-test',
      max_tokens: 1024,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'list two planets' }],
      stream: false,
    });
    expect(server.requests[1].body).toMatchObject({ max_tokens: 20, temperature: 0.5, stream: true });
    // The double saw the system prompt where the Messages API expects it.
    expect(completion.content).toBe('system:You are terse. | user:list two planets');
  });

  it('turns tool results into user turns and joins neighbouring turns of one role', () => {
    expect(
      toAnthropicMessages([
        { role: 'system', content: 'A' },
        { role: 'user', content: 'question' },
        { role: 'assistant', content: 'calling a tool' },
        { role: 'tool', content: '42' },
        { role: 'user', content: 'so?' },
        { role: 'system', content: 'B' },
      ]),
    ).toEqual({
      system: 'A\n\nB',
      messages: [
        { role: 'user', content: 'question' },
        { role: 'assistant', content: 'calling a tool' },
        { role: 'user', content: '42\n\nso?' },
      ],
    });
  });

  it('passes on the API refusal of a call without key as an http error', async () => {
    server = await startAnthropicServer();

    const error = await provider(server.baseUrl, { withoutKey: true })
      .complete(request, never())
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'http', status: 401, message: 'upstream answered 401: x-api-key header is required' });
    expect(await provider(server.baseUrl, { withoutKey: true }).isAvailable()).toBe(false);
  });

  it('counts cached prompt tokens as prompt tokens and ignores pings and thinking deltas', async () => {
    raw = await startRawServer([
      event('message_start', { message: { id: 'm1', usage: { input_tokens: 3, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 1 } } }),
      event('ping'),
      event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }),
      event('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Mars' } }),
      event('content_block_delta', { index: 1, delta: { type: 'text_delta', text: ', Venus' } }),
      event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 4 } }),
      event('message_stop'),
    ]);

    const pieces = await collect(provider(raw.url).stream(request, never()));

    expect(pieces).toEqual([
      { content: 'Mars' },
      { content: ', Venus' },
      { finishReason: 'stop', usage: { prompt_tokens: 123, completion_tokens: 4, total_tokens: 127 } },
    ]);
  });

  it('fails with the message of an error event (overloaded) sent inside the 200 stream', async () => {
    raw = await startRawServer([
      event('message_start', { message: { id: 'm1', usage: { input_tokens: 3, output_tokens: 1 } } }),
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Mars' } }),
      event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
    ]);

    await expect(collect(provider(raw.url).stream(request, never()))).rejects.toMatchObject({ kind: 'protocol', message: 'Overloaded' });
  });

  it('fails with "stream ended early" when the stream stops before message_stop and any stop reason', async () => {
    raw = await startRawServer([
      event('message_start', { message: { id: 'm1', usage: { input_tokens: 3, output_tokens: 1 } } }),
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Mars' } }),
    ]);

    await expect(collect(provider(raw.url).stream(request, never()))).rejects.toMatchObject({ kind: 'protocol', message: 'stream ended early' });
  });

  it('checks readiness with GET /v1/models, key included', async () => {
    server = await startAnthropicServer();

    expect(await provider(server.baseUrl).isAvailable()).toBe(true);
  });
});
