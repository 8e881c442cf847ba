// POST /v1/responses with the official `openai` SDK as the caller, translated onto a chat server double on loopback:
// text, streaming, a tool loop (items replayed, and through previous_response_id), usage, errors.
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { WEATHER_TOOL_ARGS } from '../../support/chat-upstream.ts';
import { ALICE, BOB, frontHarness } from './front-app.ts';

const harness = frontHarness();

const WEATHER_TOOL = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
  strict: false,
};

async function client(): Promise<{ openai: OpenAI; app: Awaited<ReturnType<typeof harness.start>> }> {
  const app = await harness.start();
  return { openai: new OpenAI({ baseURL: `${app.url}/v1`, apiKey: ALICE, maxRetries: 0 }), app };
}

describe('POST /v1/responses', () => {
  it('answers text input as a `response` with a message item, usage, and the request’s fields carried', async () => {
    const { openai, app } = await client();
    const response = await openai.responses.create({
      model: 'qwen-coder',
      instructions: 'Be terse.',
      input: 'hello there',
      max_output_tokens: 100,
      temperature: 0.3,
      top_p: 0.9,
      reasoning: { effort: 'minimal' },
      text: { format: { type: 'json_schema', name: 'reply', schema: { type: 'object', properties: { a: { type: 'string' } } }, strict: true } },
    });
    expect(response).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'qwen-coder',
      instructions: 'Be terse.',
      output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'You said: hello there' }] }],
      usage: { output_tokens: 4, total_tokens: expect.any(Number) },
    });
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe('You said: hello there');
    expect(response.usage!.input_tokens).toBeGreaterThan(0);
    expect(app.upstream.bodies[0]).toMatchObject({
      model: 'qwen-coder',
      max_tokens: 100,
      temperature: 0.3,
      top_p: 0.9,
      reasoning_effort: 'low',
      response_format: { type: 'json_schema', json_schema: { name: 'reply', schema: { type: 'object' }, strict: true } },
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'hello there' },
      ],
    });
  });

  it('streams the typed events, which the SDK gathers into the same response', async () => {
    const { openai } = await client();
    const stream = await openai.responses.create({ model: 'm', input: 'stream this', stream: true });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(text).toBe('You said: stream this');
    const deltas = types.filter((type) => type === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(completed).toMatchObject({ status: 'completed', usage: { output_tokens: 4 }, output: [{ type: 'message', content: [{ text: 'You said: stream this' }] }] });

    const final = await openai.responses.stream({ model: 'm', input: 'stream this' }).finalResponse();
    expect(final.output_text).toBe('You said: stream this');
  });

  it('runs a tool loop with the items replayed: function_call out, function_call_output in, final text', async () => {
    const { openai, app } = await client();
    const question = { role: 'user' as const, content: 'What is the weather in Paris?' };
    const first = await openai.responses.create({ model: 'm', tools: [WEATHER_TOOL], tool_choice: 'auto', input: [question] });
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', call_id: 'call_w1', name: 'get_weather', arguments: WEATHER_TOOL_ARGS, status: 'completed' });
    expect(app.upstream.bodies[0]).toMatchObject({
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: WEATHER_TOOL.parameters, strict: false } }],
      tool_choice: 'auto',
    });
    const second = await openai.responses.create({
      model: 'm',
      tools: [WEATHER_TOOL],
      input: [question, ...first.output, { type: 'function_call_output', call_id: 'call_w1', output: '18°C' }] as OpenAI.Responses.ResponseInput,
    });
    expect(second.output_text).toBe('It is 18°C in Paris.');
    expect(app.upstream.bodies[1]!.messages).toEqual([
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: WEATHER_TOOL_ARGS } }] },
      { role: 'tool', tool_call_id: 'call_w1', content: '18°C' },
    ]);
  });

  it('continues a stored response by previous_response_id, for its own user only', async () => {
    const { openai, app } = await client();
    const first = await openai.responses.create({ model: 'm', store: true, tools: [WEATHER_TOOL], instructions: 'Use tools.', input: 'weather in Paris?' });
    expect(first.output[0]).toMatchObject({ type: 'function_call', call_id: 'call_w1' });
    const second = await openai.responses.create({
      model: 'm',
      store: true,
      tools: [WEATHER_TOOL],
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: 'call_w1', output: '18°C' }],
    });
    expect(second).toMatchObject({ previous_response_id: first.id, output: [{ type: 'message', content: [{ text: 'It is 18°C in Paris.' }] }] });
    // Instructions do not carry over to a continuation, as on OpenAI.
    expect(app.upstream.bodies[1]!.messages).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: WEATHER_TOOL_ARGS } }] },
      { role: 'tool', tool_call_id: 'call_w1', content: '18°C' },
    ]);

    const bob = new OpenAI({ baseURL: `${app.url}/v1`, apiKey: BOB, maxRetries: 0 });
    const stolen = await bob.responses.create({ model: 'm', previous_response_id: first.id, input: 'and now?' }).catch((e: unknown) => e);
    expect(stolen).toBeInstanceOf(OpenAI.BadRequestError);
    expect((stolen as InstanceType<typeof OpenAI.APIError>).param).toBe('previous_response_id');
  });

  it('keeps nothing without store: true, and says so when a continuation names it', async () => {
    const { openai, app } = await client();
    const unstored = await openai.responses.create({ model: 'm', input: 'hello' });
    const error = await openai.responses.create({ model: 'm', previous_response_id: unstored.id, input: 'more' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toMatch(/only responses made here with store: true are kept/);
    expect(app.upstream.bodies).toHaveLength(1);
  });

  it('streams a function call as its item with argument deltas, and completes with the whole call', async () => {
    const { openai } = await client();
    const stream = await openai.responses.create({ model: 'm', stream: true, tools: [WEATHER_TOOL], input: 'weather please' });
    const pieces: string[] = [];
    let done: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.function_call_arguments.delta') pieces.push(event.delta);
      if (event.type === 'response.completed') done = event.response;
    }
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.join('')).toBe(WEATHER_TOOL_ARGS);
    expect(done!.output).toEqual([expect.objectContaining({ type: 'function_call', call_id: 'call_w1', name: 'get_weather', arguments: WEATHER_TOOL_ARGS, status: 'completed' })]);
  });

  it('is incomplete with max_output_tokens when the model ran out of tokens', async () => {
    const { openai } = await client();
    const response = await openai.responses.create({ model: 'm', max_output_tokens: 2, input: 'a long story' });
    expect(response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, output_text: 'You said:' });
  });

  it('keeps an upstream 400 a 400, refuses hosted tools naming the field, and fails a broken stream with response.failed', async () => {
    const { openai, app } = await client();
    const upstream400 = await openai.responses.create({ model: 'm', input: 'fail-400' }).catch((e: unknown) => e);
    expect(upstream400).toBeInstanceOf(OpenAI.BadRequestError);
    expect((upstream400 as Error).message).toMatch(/does not support this/);

    const hosted = await openai.responses.create({ model: 'm', tools: [{ type: 'web_search' }], input: 'hi' }).catch((e: unknown) => e);
    expect(hosted).toBeInstanceOf(OpenAI.BadRequestError);
    expect((hosted as InstanceType<typeof OpenAI.APIError>).param).toBe('tools[0]');
    expect(app.upstream.bodies).toHaveLength(1);

    const stream = await openai.responses.create({ model: 'm', stream: true, input: 'break-mid' });
    const types: string[] = [];
    let failed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.failed') failed = event.response;
    }
    expect(types.at(-1)).toBe('response.failed');
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'server_error', message: expect.stringMatching(/ran out of memory/) } });
  });

  it('refuses an unknown token with 401', async () => {
    const { app } = await client();
    const stranger = new OpenAI({ baseURL: `${app.url}/v1`, apiKey: 'nope', maxRetries: 0 });
    await expect(stranger.responses.create({ model: 'm', input: 'hi' })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
