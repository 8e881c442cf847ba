// POST /v1/messages and /count_tokens with the official @anthropic-ai/sdk as the caller, translated onto a chat
// server double on loopback: text, streaming, a tool loop, usage, errors.
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { WEATHER_TOOL_ARGS } from '../../support/chat-upstream.ts';
import { ALICE, frontHarness } from './front-app.ts';

const harness = frontHarness();

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};

async function client(options: { apiKey?: string; authToken?: string } = { apiKey: ALICE }): Promise<{ anthropic: Anthropic; app: Awaited<ReturnType<typeof harness.start>> }> {
  const app = await harness.start();
  return { anthropic: new Anthropic({ baseURL: app.url, maxRetries: 0, ...options }), app };
}

describe('POST /v1/messages', () => {
  it('answers a text message as a Messages `message`, with the system prompt, sampling fields and usage carried', async () => {
    const { anthropic, app } = await client();
    const message = await anthropic.messages.create({
      model: 'qwen-coder',
      max_tokens: 256,
      system: [{ type: 'text', text: 'Be terse.' }],
      messages: [{ role: 'user', content: 'hello there' }],
      stop_sequences: ['END'],
      metadata: { user_id: 'u-42' },
      ...({ temperature: 0.2, top_k: 40 } as object),
    });
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'qwen-coder',
      content: [{ type: 'text', text: 'You said: hello there' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
    });
    expect(message.id).toMatch(/^msg_/);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBe(4);
    expect(app.upstream.bodies[0]).toMatchObject({
      model: 'qwen-coder',
      max_tokens: 256,
      temperature: 0.2,
      top_k: 40,
      stop: ['END'],
      user: 'u-42',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'hello there' },
      ],
    });
  });

  it('accepts the token as x-api-key and as Authorization: Bearer, and refuses an unknown one in Anthropic’s error shape', async () => {
    const { anthropic: byKey, app } = await client();
    await expect(byKey.messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })).resolves.toMatchObject({ type: 'message' });
    const byBearer = new Anthropic({ baseURL: app.url, authToken: ALICE, maxRetries: 0 });
    await expect(byBearer.messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })).resolves.toMatchObject({ type: 'message' });
    const stranger = new Anthropic({ baseURL: app.url, apiKey: 'not-a-token', maxRetries: 0 });
    const refused = await stranger.messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((refused as InstanceType<typeof Anthropic.APIError>).error).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.stringMatching(/bearer token/) } });
    expect(JSON.stringify((refused as Error).message)).not.toContain('not-a-token');
  });

  it('streams Anthropic’s event sequence, which the SDK gathers into the same message', async () => {
    const { anthropic } = await client();
    const stream = await anthropic.messages.create({ model: 'm', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'stream this' }] });
    const types: string[] = [];
    let text = '';
    let finalUsage: unknown;
    for await (const event of stream) {
      types.push(event.type === 'content_block_delta' ? `${event.type}:${event.delta.type}` : event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      if (event.type === 'message_delta') finalUsage = event.usage;
    }
    expect(text).toBe('You said: stream this');
    const deltas = types.filter((type) => type === 'content_block_delta:text_delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual(['message_start', 'content_block_start', ...Array(deltas).fill('content_block_delta:text_delta'), 'content_block_stop', 'message_delta', 'message_stop']);
    expect(finalUsage).toMatchObject({ output_tokens: 4, input_tokens: expect.any(Number) });

    const final = await anthropic.messages.stream({ model: 'm', max_tokens: 64, messages: [{ role: 'user', content: 'stream this' }] }).finalMessage();
    expect(final).toMatchObject({ content: [{ type: 'text', text: 'You said: stream this' }], stop_reason: 'end_turn', usage: { output_tokens: 4 } });
  });

  it('runs a tool loop: tool_use with its input, then the tool_result, then the final text', async () => {
    const { anthropic, app } = await client();
    const question = { role: 'user' as const, content: 'What is the weather in Paris?' };
    const first = await anthropic.messages.create({ model: 'm', max_tokens: 128, tools: [WEATHER_TOOL], tool_choice: { type: 'auto' }, messages: [question] });
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((block) => block.type === 'tool_use');
    expect(call).toMatchObject({ type: 'tool_use', id: 'call_w1', name: 'get_weather', input: JSON.parse(WEATHER_TOOL_ARGS) });
    expect(app.upstream.bodies[0]).toMatchObject({
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: WEATHER_TOOL.input_schema } }],
      tool_choice: 'auto',
    });

    const second = await anthropic.messages.create({
      model: 'm',
      max_tokens: 128,
      tools: [WEATHER_TOOL],
      messages: [question, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call!.id, content: '18°C' }] }],
    });
    expect(second).toMatchObject({ content: [{ type: 'text', text: 'It is 18°C in Paris.' }], stop_reason: 'end_turn' });
    expect(app.upstream.bodies[1]!.messages).toEqual([
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(JSON.parse(WEATHER_TOOL_ARGS)) } }] },
      { role: 'tool', tool_call_id: 'call_w1', content: '18°C' },
    ]);
  });

  it('streams a tool call as a tool_use block with input_json_delta pieces the SDK parses back', async () => {
    const { anthropic } = await client();
    const stream = anthropic.messages.stream({ model: 'm', max_tokens: 128, tools: [WEATHER_TOOL], messages: [{ role: 'user', content: 'weather please' }] });
    const pieces: string[] = [];
    stream.on('inputJson', (partial) => pieces.push(partial));
    const final = await stream.finalMessage();
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.join('')).toBe(WEATHER_TOOL_ARGS);
    expect(final).toMatchObject({ stop_reason: 'tool_use', content: [{ type: 'tool_use', id: 'call_w1', name: 'get_weather', input: JSON.parse(WEATHER_TOOL_ARGS) }] });
  });

  it('says max_tokens when the model ran out of tokens', async () => {
    const { anthropic } = await client();
    const message = await anthropic.messages.create({ model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'a long story' }] });
    expect(message).toMatchObject({ stop_reason: 'max_tokens', content: [{ type: 'text', text: 'You said:' }] });
  });

  it('keeps an upstream 400 a 400 with its message, so the SDK does not retry it', async () => {
    const { anthropic } = await client();
    const error = await anthropic.messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'fail-400' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: "model 'm' does not support this: try without it" } });
  });

  it('refuses what a chat model cannot do with a 400 naming the field, before calling anything', async () => {
    const { anthropic, app } = await client();
    const serverTool = await anthropic.messages
      .create({ model: 'm', max_tokens: 8, tools: [{ type: 'web_search_20250305', name: 'web_search' }], messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(serverTool).toBeInstanceOf(Anthropic.BadRequestError);
    expect((serverTool as Error).message).toMatch(/tools\[0\]: 'web_search_20250305' is a tool Anthropic runs on its own servers/);
    const noMaxTokens = await anthropic.messages.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] } as never).catch((e: unknown) => e);
    expect((noMaxTokens as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(/max_tokens/) } });
    const notJson = await fetch(`${app.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': ALICE, 'content-type': 'application/json' }, body: '{"model":' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(app.upstream.bodies).toHaveLength(0);
  });

  it('ends a stream that broke upstream with an `error` event the SDK raises', async () => {
    const { anthropic } = await client();
    const stream = await anthropic.messages.create({ model: 'm', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'break-mid' }] });
    let text = '';
    const failure = await (async () => {
      for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    })().catch((e: unknown) => e);
    expect(text).toBe('I was saying');
    expect(failure).toBeInstanceOf(Anthropic.APIError);
    expect((failure as Error).message).toMatch(/ran out of memory/);
  });
});

describe('POST /v1/messages/count_tokens', () => {
  it('estimates input tokens, more for a longer conversation', async () => {
    const { anthropic } = await client();
    const short = await anthropic.messages.countTokens({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    const long = await anthropic.messages.countTokens({ model: 'm', system: 'x'.repeat(4000), tools: [WEATHER_TOOL], messages: [{ role: 'user', content: 'hi' }] });
    expect(short.input_tokens).toBeGreaterThan(0);
    expect(long.input_tokens).toBeGreaterThan(short.input_tokens + 1000);
  });
});
