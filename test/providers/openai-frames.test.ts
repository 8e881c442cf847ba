// Full-fidelity calls (SPEC.md §5) through each provider against its wire double: passthrough for OpenAI-compatible
// servers, translation for Ollama and Anthropic, the demo model's tool call; refusals name the field.
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import { createProvider, UpstreamError } from '../../src/providers/index.ts';
import type { OpenAiCall } from '../../src/providers/types.ts';
import { UnsupportedField } from '../../src/providers/types.ts';
import { startAnthropicServer, startOllamaServer, startOpenAiServer, testEmbedding, type ModelServer } from '../support/model-server.ts';
import { never } from '../support/pieces.ts';

let server: ModelServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const provider = (type: string, baseUrl?: string) =>
  createProvider(v.parse(ProviderConfig, { name: 'local', type, model: 'upstream-id', baseUrl, apiKey: type === 'anthropic' ? 'sk-test' : undefined, tokenDelayMs: 0 }));
const call = (body: Record<string, unknown>, streaming = false, endpoint: OpenAiCall['endpoint'] = 'chat.completions'): OpenAiCall => ({
  endpoint,
  streaming,
  body: streaming ? { ...body, stream: true } : body,
  model: 'asked-name',
  taskId: 't1',
});
const chunksOf = async (stream: AsyncIterable<string>) => {
  const chunks: any[] = [];
  for await (const data of stream) chunks.push(JSON.parse(data));
  return chunks;
};
/** Tool-call deltas reassembled as an SDK does: by index, arguments concatenated. */
const reassemble = (chunks: any[]) => {
  const calls: { id?: string; name?: string; arguments: string }[] = [];
  for (const chunk of chunks) {
    for (const delta of chunk.choices[0]?.delta?.tool_calls ?? []) {
      const call = (calls[delta.index] ??= { arguments: '' });
      if (delta.id) call.id = delta.id;
      if (delta.function?.name) call.name = delta.function.name;
      call.arguments += delta.function?.arguments ?? '';
    }
  }
  return calls;
};

const weather = { type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const ask = [{ role: 'user', content: 'weather in Paris?' }];
const toolTurn = [
  ...ask,
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
  { role: 'tool', tool_call_id: 'call_a', content: 'sunny, 21 C' },
];
const calls = [{ name: 'get_weather', arguments: { city: 'Paris' } }];

describe("'openai' provider: passthrough", () => {
  it('sends the body as given but for model, and answers verbatim but for model (tools, n, logprobs)', async () => {
    server = await startOpenAiServer({ toolCalls: calls });
    const body = { model: 'asked-name', messages: ask, tools: [weather], tool_choice: 'auto', n: 2, logprobs: true, seed: 7, top_k: 5, chat_template_kwargs: { enable_thinking: false } };
    const answer: any = await provider('openai', server.baseUrl).openai(call(body), never());
    expect(server.requests[0].body).toEqual({ ...body, model: 'upstream-id' });
    expect(answer.model).toBe('asked-name');
    expect(answer.choices).toHaveLength(2);
    expect(answer.system_fingerprint).toBe('fp_test');
    expect(answer.choices[0].message.tool_calls[0]).toEqual({ id: expect.any(String), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
  });

  it('streams each data payload, tool-call deltas by index, and the usage chunk only when the caller asked', async () => {
    server = await startOpenAiServer({ toolCalls: calls });
    const p = provider('openai', server.baseUrl);
    const chunks = await chunksOf(p.openaiStream(call({ messages: ask, tools: [weather] }, true), never()));
    expect(server.requests[0].body).toMatchObject({ stream: true, stream_options: { include_usage: true }, model: 'upstream-id' });
    expect(reassemble(chunks)).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    expect(chunks.every((chunk) => chunk.model === 'asked-name')).toBe(true);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');

    const withUsage = await chunksOf(p.openaiStream(call({ messages: ask, stream_options: { include_usage: true } }, true), never()));
    expect(withUsage.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: expect.any(Number) } });
  });

  it('passes completions (with suffix) and embeddings through to their endpoints', async () => {
    server = await startOpenAiServer();
    const p = provider('openai', server.baseUrl);
    const text: any = await p.openai(call({ prompt: 'def add(a, b):', suffix: 'return c', max_tokens: 20 }, false, 'completions'), never());
    expect(server.requests[0]).toMatchObject({ path: '/v1/completions', body: { prompt: 'def add(a, b):', suffix: 'return c', model: 'upstream-id' } });
    expect(text).toMatchObject({ object: 'text_completion', model: 'asked-name' });
    const vectors: any = await p.openai(call({ input: ['a', 'bc'] }, false, 'embeddings'), never());
    expect(server.requests[1]).toMatchObject({ path: '/v1/embeddings', body: { input: ['a', 'bc'], model: 'upstream-id' } });
    expect(vectors.data.map((d: any) => d.embedding)).toEqual([testEmbedding('a'), testEmbedding('bc')]);
  });

  it("turns an upstream 400 into an http error with its status and OpenAI's error fields", async () => {
    server = await startOpenAiServer({ failWith: 400 });
    const error = await provider('openai', server.baseUrl).openai(call({ messages: ask }), never()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'http', status: 400, fields: { type: 'BadRequestError', code: '400' } });
  });
});

describe("'ollama' provider: translated to /api/chat, /api/generate, /api/embed", () => {
  it('sends tools, tool calls (arguments as objects), tool results with their tool name, images, format and options', async () => {
    server = await startOllamaServer();
    const body = {
      messages: [
        { role: 'developer', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
        ...toolTurn.slice(1),
      ],
      tools: [weather],
      response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } },
      stop: 'END',
      seed: 3,
      top_p: 0.5,
      top_k: 40,
      max_tokens: 99,
      frequency_penalty: 0.2,
      reasoning_effort: 'high',
    };
    await provider('ollama', server.baseUrl).openai(call(body), never());
    expect(server.requests[0].body).toEqual({
      model: 'upstream-id',
      stream: false,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'what is this?', images: ['iVBORw0KGgo='] },
        { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
        { role: 'tool', content: 'sunny, 21 C', tool_name: 'get_weather' },
      ],
      tools: [weather],
      format: { type: 'object' },
      options: { stop: ['END'], seed: 3, top_p: 0.5, top_k: 40, num_predict: 99, frequency_penalty: 0.2 },
      think: 'high',
    });
  });

  it('answers tool calls with JSON-text arguments, plain and streamed as OpenAI deltas', async () => {
    server = await startOllamaServer({ toolCalls: calls });
    const p = provider('ollama', server.baseUrl);
    const answer: any = await p.openai(call({ messages: ask, tools: [weather] }), never());
    expect(answer.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } });
    const chunks = await chunksOf(p.openaiStream(call({ messages: ask, tools: [weather], stream_options: { include_usage: true } }, true), never()));
    expect(reassemble(chunks)).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    expect(chunks.at(-2).choices[0].finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: expect.any(Number) } });
  });

  it('asks for thinking (reasoning_effort, enable_thinking) and answers it as reasoning_content, plain and streamed', async () => {
    server = await startOllamaServer({ thinking: 'Paris is in France.', reply: () => 'Sunny.' });
    const p = provider('ollama', server.baseUrl);
    const answer: any = await p.openai(call({ messages: ask, chat_template_kwargs: { enable_thinking: true } }), never());
    expect(server.requests[0].body).toMatchObject({ think: true });
    expect(answer.choices[0].message).toEqual({ role: 'assistant', content: 'Sunny.', reasoning_content: 'Paris is in France.' });
    const chunks = await chunksOf(p.openaiStream(call({ messages: ask, reasoning_effort: 'low' }, true), never()));
    expect(server.requests[1].body).toMatchObject({ think: 'low' });
    expect(chunks.map((c) => c.choices[0].delta.reasoning_content ?? '').join('')).toBe('Paris is in France.');
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Sunny.');
  });

  it('translates completions to /api/generate (suffix for FIM) and embeddings to /api/embed, base64 too', async () => {
    server = await startOllamaServer({ reply: () => 'x + y' });
    const p = provider('ollama', server.baseUrl);
    const text: any = await p.openai(call({ prompt: 'def add(x, y): return ', suffix: '\n', max_tokens: 8 }, false, 'completions'), never());
    expect(server.requests[0]).toMatchObject({ path: '/api/generate', body: { prompt: 'def add(x, y): return ', suffix: '\n', options: { num_predict: 8 } } });
    expect(text.choices[0]).toMatchObject({ text: 'x + y', finish_reason: 'stop' });
    const streamed = await chunksOf(p.openaiStream(call({ prompt: 'p' }, true, 'completions'), never()));
    expect(streamed.map((c) => c.choices[0]?.text ?? '').join('')).toBe('x + y');

    const vectors: any = await p.openai(call({ input: 'hello', encoding_format: 'base64' }, false, 'embeddings'), never());
    expect(server.requests[2]).toMatchObject({ path: '/api/embed', body: { model: 'upstream-id', input: ['hello'] } });
    const packed = Buffer.from(vectors.data[0].embedding, 'base64');
    const decoded = [...new Float32Array(packed.buffer, packed.byteOffset, packed.length / 4)];
    expect(decoded).toEqual(testEmbedding('hello').map(Math.fround));
  });

  it.each([
    [{ n: 2 }, 'n'],
    [{ logprobs: true }, 'logprobs'],
    [{ tool_choice: 'required', tools: [weather] }, 'tool_choice'],
    [{ logit_bias: { 1: 2 } }, 'logit_bias'],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }, 'messages[0].content[0].image_url.url'],
  ])('refuses what it cannot express, naming the field: %j', async (fields, param) => {
    server = await startOllamaServer();
    const error = await provider('ollama', server.baseUrl).openai(call({ messages: ask, ...fields }), never()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedField);
    expect(error).toMatchObject({ param, status: 400 });
    expect(server.requests).toHaveLength(0);
  });
});

describe("'anthropic' provider: translated to the Messages API", () => {
  it('sends tools with input_schema, tool_use and tool_result blocks, images, stop sequences and tool_choice', async () => {
    server = await startAnthropicServer();
    const body = {
      messages: [{ role: 'system', content: 'be brief' }, ...toolTurn.slice(0, 1), { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }, ...toolTurn.slice(1)],
      tools: [weather],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      stop: ['END'],
      max_completion_tokens: 50,
    };
    await provider('anthropic', server.baseUrl).openai(call(body), never());
    expect(server.requests[0].body).toEqual({
      model: 'upstream-id',
      max_tokens: 50,
      stream: false,
      system: 'be brief',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'weather in Paris?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_a', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_a', content: 'sunny, 21 C' }] },
      ],
      tools: [{ name: 'get_weather', description: 'Weather of a city', input_schema: weather.function.parameters }],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
    });
  });

  it('answers tool_use as tool calls, plain and streamed (input_json_delta as argument deltas)', async () => {
    server = await startAnthropicServer({ toolCalls: calls });
    const p = provider('anthropic', server.baseUrl);
    const answer: any = await p.openai(call({ messages: ask, tools: [weather] }), never());
    expect(answer.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } });
    const chunks = await chunksOf(p.openaiStream(call({ messages: ask, tools: [weather] }, true), never()));
    expect(reassemble(chunks)).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');
  });

  it('refuses embeddings and fields it cannot express, naming them', async () => {
    server = await startAnthropicServer();
    const p = provider('anthropic', server.baseUrl);
    await expect(p.openai(call({ input: 'x' }, false, 'embeddings'), never())).rejects.toBeInstanceOf(UnsupportedField);
    await expect(p.openai(call({ messages: ask, response_format: { type: 'json_object' } }), never())).rejects.toMatchObject({ param: 'response_format' });
    await expect(p.openai(call({ messages: ask, seed: 1 }), never())).rejects.toMatchObject({ param: 'seed' });
  });
});

describe("'demo' provider", () => {
  it('calls the first tool with arguments from its schema, then answers the tool result in text', async () => {
    const p = provider('demo');
    const first: any = await p.openai(call({ messages: ask, tools: [weather] }), never());
    expect(first.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":"demo"}' } }] } });
    const second: any = await p.openai(call({ messages: toolTurn, tools: [weather] }), never());
    expect(second.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: expect.stringContaining('sunny, 21 C') } });
    const streamed = await chunksOf(p.openaiStream(call({ messages: ask, tools: [weather] }, true), never()));
    expect(reassemble(streamed)).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: '{"city":"demo"}' }]);
  });

  it('embeds deterministically and completes text', async () => {
    const p = provider('demo');
    const a: any = await p.openai(call({ input: ['x', 'y'] }, false, 'embeddings'), never());
    const b: any = await p.openai(call({ input: ['x', 'y'] }, false, 'embeddings'), never());
    expect(a.data).toEqual(b.data);
    expect(a.data[0].embedding).not.toEqual(a.data[1].embedding);
    const text: any = await p.openai(call({ prompt: 'once upon' }, false, 'completions'), never());
    expect(text).toMatchObject({ object: 'text_completion', model: 'asked-name', choices: [{ text: expect.stringContaining('once upon') }] });
  });
});
