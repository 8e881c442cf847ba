// The Anthropic Messages and OpenAI Responses front doors end to end: the official SDKs call a real hub, which
// dispatches through a real registrar daemon to an OpenAI-compatible double that calls tools the way vLLM does
// (ids and names first, JSON-text arguments in pieces, by index): text, streaming, a tool loop, usage, visibility,
// agents, an early upstream error and a slow first token.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, hubGet, startCluster, TOKEN, type Cluster } from '../../support/cluster.ts';
import { echoReply, startOpenAiServer, TEST_MODEL, type ChatTurn, type ModelServer, type ModelScript } from '../../support/model-server.ts';

const BOB = 'bob-token-0123456789';
const WEATHER_ARGS = { city: 'Paris', unit: 'celsius' };

/** A small model: it calls the weather tool when it has tools, then reads the tool's result back. */
function reply(messages: ChatTurn[]): string {
  const last = messages.at(-1);
  return last?.role === 'tool' ? `It is ${last.content} in Paris.` : echoReply(messages);
}
const SCRIPT: ModelScript = { reply, toolCalls: [{ name: 'get_weather', arguments: WEATHER_ARGS }] };

let model: ModelServer;
let cluster: Cluster;
let anthropic: Anthropic;
let openai: OpenAI;

beforeAll(async () => {
  model = await startOpenAiServer({ ...SCRIPT });
  cluster = await startCluster({
    providers: [{ name: 'qwen-coder', type: 'openai', baseUrl: model.baseUrl, model: TEST_MODEL }],
    agents: [{ name: 'reviewer', llmName: 'qwen-coder', systemPrompt: 'You review code.' }],
    // The registrar's user publishes privately; bob shares the hub but not the model.
    hub: { tokens: { [TOKEN]: { user: 'tester', admin: true }, [BOB]: { user: 'bob' } } },
  });
  await eventually(async () => expect((await hubGet(cluster.url, '/v1/models')).json.data.map((row: { id: string }) => row.id)).toEqual(expect.arrayContaining(['qwen-coder', 'reviewer'])));
  anthropic = new Anthropic({ baseURL: cluster.url, apiKey: TOKEN, maxRetries: 0 });
  openai = new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
});
afterAll(async () => {
  await cluster?.close();
  await model?.close();
});

const upstreamBody = (index: number) => model.requests.at(index)?.body as Record<string, any>;

const ANTHROPIC_WEATHER = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
};
const RESPONSES_WEATHER = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
  strict: false,
};

describe('POST /v1/messages through a hub and a registrar', () => {
  it('answers text with the usage the model counted, the upstream seeing a chat call for its own model id', async () => {
    const message = await anthropic.messages.create({ model: 'qwen-coder', max_tokens: 64, system: 'Be terse.', messages: [{ role: 'user', content: 'hello there' }] });
    expect(message).toMatchObject({
      type: 'message',
      model: 'qwen-coder',
      content: [{ type: 'text', text: 'You said: hello there' }],
      stop_reason: 'end_turn',
      // The double counts words: "Be terse." and "hello there" in, "You said: hello there" out.
      usage: { input_tokens: 4, output_tokens: 4 },
    });
    expect(upstreamBody(-1)).toMatchObject({
      model: TEST_MODEL,
      max_tokens: 64,
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'hello there' },
      ],
    });
  });

  it('streams the event sequence, with the real usage in message_delta', async () => {
    const stream = anthropic.messages.stream({ model: 'qwen-coder', max_tokens: 64, messages: [{ role: 'user', content: 'stream this please' }] });
    const types = new Set<string>();
    stream.on('streamEvent', (event) => types.add(event.type));
    const message = await stream.finalMessage();
    expect(message.content).toEqual([{ type: 'text', text: 'You said: stream this please' }]);
    expect(message.usage).toMatchObject({ output_tokens: 5 });
    // (The SDK drops `ping`.)
    expect([...types]).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(upstreamBody(-1)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('runs a tool loop: tool_use out, tool_result in, final text', async () => {
    const question = { role: 'user' as const, content: 'what is the weather in Paris?' };
    const first = await anthropic.messages.stream({ model: 'qwen-coder', max_tokens: 64, tools: [ANTHROPIC_WEATHER], messages: [question] }).finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const [call] = first.content;
    expect(call).toMatchObject({ type: 'tool_use', name: 'get_weather', input: WEATHER_ARGS });
    const id = (call as Anthropic.ToolUseBlock).id;

    const second = await anthropic.messages.create({
      model: 'qwen-coder',
      max_tokens: 64,
      tools: [ANTHROPIC_WEATHER],
      messages: [question, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: '18°C' }] }],
    });
    expect(second).toMatchObject({ stop_reason: 'end_turn', content: [{ type: 'text', text: 'It is 18°C in Paris.' }] });
    expect(upstreamBody(-1).messages.slice(-2)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(WEATHER_ARGS) } }] },
      { role: 'tool', tool_call_id: id, content: '18°C' },
    ]);
    expect(upstreamBody(-1).tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: ANTHROPIC_WEATHER.input_schema } }]);
  });

  it('answers 404 in Anthropic’s shape for a model the caller may not see, as for one that does not exist, count_tokens too', async () => {
    const bob = new Anthropic({ baseURL: cluster.url, apiKey: BOB, maxRetries: 0 });
    const before = model.requests.length;
    for (const name of ['qwen-coder', 'no-such-model']) {
      const refused = await bob.messages.create({ model: name, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Anthropic.NotFoundError);
      expect((refused as InstanceType<typeof Anthropic.APIError>).error).toEqual({ type: 'error', error: { type: 'not_found_error', message: `model '${name}' not found` } });
      const counted = await bob.messages.countTokens({ model: name, messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
      expect(counted).toBeInstanceOf(Anthropic.NotFoundError);
    }
    expect(model.requests.length).toBe(before);
    await expect(anthropic.messages.countTokens({ model: 'qwen-coder', messages: [{ role: 'user', content: 'hello there' }] })).resolves.toMatchObject({ input_tokens: expect.any(Number) });
  });

  it('calls an agent by its name: its system prompt first, its name in the answer', async () => {
    const message = await anthropic.messages.create({ model: 'reviewer', max_tokens: 64, messages: [{ role: 'user', content: 'look at this' }] });
    expect(message).toMatchObject({ model: 'reviewer', content: [{ type: 'text', text: 'You said: look at this' }] });
    expect(upstreamBody(-1).messages).toEqual([
      { role: 'system', content: 'You review code.' },
      { role: 'user', content: 'look at this' },
    ]);
  });

  it('gives a streamed call that the upstream refuses at once its status, not a 200 with an error inside', async () => {
    model.script = { ...SCRIPT, failWith: 400 };
    try {
      const refused = await anthropic.messages.create({ model: 'qwen-coder', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
      expect((refused as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('scripted failure') } });
      expect(JSON.stringify((refused as InstanceType<typeof Anthropic.APIError>).error)).not.toContain(String(model.port));
    } finally {
      model.script = { ...SCRIPT };
    }
  });

  it('answers a slow first token’s caller at once with message_start and keep-alives, then the text', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    model.script = { ...SCRIPT, hold: () => held };
    try {
      const response = await fetch(`${cluster.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': TOKEN, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'qwen-coder', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'take your time' }] }),
      });
      // The head came while the model is still held (the hub's keep-alive interval is 100 ms here).
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      let seen = '';
      while (!seen.includes(': keep-alive')) seen += new TextDecoder().decode((await reader.read()).value);
      expect(seen).toContain('event: message_start');
      expect(seen).not.toContain('text_delta');
      release();
      for (let part = await reader.read(); !part.done; part = await reader.read()) seen += new TextDecoder().decode(part.value);
      expect(seen).toContain('"text":" take"');
      expect(seen).toContain('event: message_stop');
    } finally {
      release();
      model.script = { ...SCRIPT };
    }
  });

  it('cancels the model’s answer when the caller goes away mid-stream', async () => {
    model.script = { ...SCRIPT, tokenDelayMs: 20 };
    const aborted = model.aborted;
    try {
      const callerGone = new AbortController();
      const stream = await anthropic.messages.create(
        { model: 'qwen-coder', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'a long answer with many words to say slowly' }] },
        { signal: callerGone.signal },
      );
      for await (const event of stream) {
        if (event.type === 'content_block_delta') break;
      }
      callerGone.abort();
      await eventually(() => expect(model.aborted).toBe(aborted + 1));
      expect(model.inFlight).toBe(0);
    } finally {
      model.script = { ...SCRIPT };
    }
  });
});

describe('POST /v1/responses through a hub and a registrar', () => {
  it('answers text with instructions, usage and the output text', async () => {
    const response = await openai.responses.create({ model: 'qwen-coder', instructions: 'Be terse.', input: 'hello there', max_output_tokens: 64 });
    expect(response).toMatchObject({ object: 'response', status: 'completed', model: 'qwen-coder', output_text: 'You said: hello there', usage: { input_tokens: 4, output_tokens: 4, total_tokens: 8 } });
    expect(upstreamBody(-1)).toMatchObject({ model: TEST_MODEL, max_tokens: 64, messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'hello there' }] });
  });

  it('streams typed events, response.completed carrying the usage', async () => {
    const stream = openai.responses.stream({ model: 'qwen-coder', input: 'stream this please' });
    const types = new Set<string>();
    stream.on('event', (event) => types.add(event.type));
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('You said: stream this please');
    expect(final.usage).toMatchObject({ output_tokens: 5 });
    expect([...types]).toEqual(expect.arrayContaining(['response.created', 'response.output_text.delta', 'response.output_text.done', 'response.completed']));
  });

  it('runs a tool loop: function_call out (streamed in pieces), function_call_output in, final text', async () => {
    const question = { role: 'user' as const, content: 'what is the weather in Paris?' };
    const argumentDeltas: string[] = [];
    const stream = openai.responses.stream({ model: 'qwen-coder', tools: [RESPONSES_WEATHER], input: [question] });
    stream.on('response.function_call_arguments.delta', (event) => argumentDeltas.push(event.delta));
    const first = await stream.finalResponse();
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: JSON.stringify(WEATHER_ARGS), status: 'completed' });
    expect(argumentDeltas.length).toBeGreaterThan(1);
    expect(argumentDeltas.join('')).toBe(JSON.stringify(WEATHER_ARGS));
    const callId = (call as OpenAI.Responses.ResponseFunctionToolCall).call_id;

    const second = await openai.responses.create({
      model: 'qwen-coder',
      tools: [RESPONSES_WEATHER],
      input: [question, ...first.output, { type: 'function_call_output', call_id: callId, output: '18°C' }] as OpenAI.Responses.ResponseInput,
    });
    expect(second.output_text).toBe('It is 18°C in Paris.');
    expect(upstreamBody(-1).messages.at(-1)).toEqual({ role: 'tool', tool_call_id: callId, content: '18°C' });
  });

  it('answers 404 in OpenAI’s shape for a model the caller may not see, as for one that does not exist', async () => {
    const bob = new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: BOB, maxRetries: 0 });
    for (const name of ['qwen-coder', 'no-such-model']) {
      const refused = await bob.responses.create({ model: name, input: 'hi' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(OpenAI.NotFoundError);
      expect((refused as InstanceType<typeof OpenAI.APIError>).error).toEqual({ message: `model '${name}' not found`, type: 'not_found_error', param: 'model', code: 'model_not_found' });
    }
  });

  it('calls an agent by its name', async () => {
    const response = await openai.responses.create({ model: 'reviewer', input: 'look at this' });
    expect(response).toMatchObject({ model: 'reviewer', output_text: 'You said: look at this' });
    expect(upstreamBody(-1).messages[0]).toEqual({ role: 'system', content: 'You review code.' });
  });
});
