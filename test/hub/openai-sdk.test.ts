// The front door through the official `openai` SDK as the caller: a hub, a registrar that speaks openai.v1 on the
// wire, and an OpenAI-compatible upstream double, all on 127.0.0.1. Whatever the caller sends reaches the upstream
// as sent but for `model`; whatever the upstream answers reaches the caller as said but for `model`.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { HubOptions } from '../../src/hub/index.ts';
import { startOpenAiUpstream, type OpenAiUpstream, type UpstreamCall } from '../support/openai-upstream.ts';
import { startWireRegistrar, type WireRegistrar } from '../support/wire-registrar.ts';
import { ALICE, BOB, hubHarness } from './helpers.ts';

const harness = hubHarness();
const opened: Array<OpenAiUpstream | WireRegistrar> = [];
afterEach(async () => {
  for (const thing of opened.splice(0)) await thing.close();
});

/** What llama-server calls its model: the hub must never show it to a caller. */
const UPSTREAM_MODEL = '/models/tiny-Q4_K_M.gguf';

async function stage(options: { hub?: Partial<HubOptions>; capabilities?: string[]; agents?: Record<string, unknown>[]; maxRetries?: number } = {}) {
  const upstream = await startOpenAiUpstream();
  opened.push(upstream);
  const hub = await harness.start(options.hub);
  const registrar = await startWireRegistrar({
    hubUrl: hub.url,
    token: ALICE,
    providers: [{ name: 'llama', model: UPSTREAM_MODEL, upstream: upstream.baseUrl }],
    ...(options.capabilities ? { capabilities: options.capabilities } : {}),
    ...(options.agents ? { agents: options.agents } : {}),
  });
  opened.push(registrar);
  await registrar.openStream();
  const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: BOB, maxRetries: options.maxRetries ?? 2 });
  return { upstream, hub, registrar, client };
}

/** What the upstream saw of the one call it got, `model` set back to what the caller sent. */
function onlyCall(upstream: OpenAiUpstream, callerModel = 'llama'): UpstreamCall {
  expect(upstream.calls).toHaveLength(1);
  const call = upstream.calls[0] as UpstreamCall;
  expect(call.body.model).toBe(UPSTREAM_MODEL);
  return { ...call, body: { ...call.body, model: callerModel } };
}

const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

describe('the front door through the openai SDK (openai.v1 registrar)', () => {
  it('negotiates openai.v1 on register', async () => {
    const { registrar } = await stage();
    expect(registrar.capabilities).toEqual(['openai.v1']);
  });

  it('passes tools, tool_choice and parallel_tool_calls through and returns the tool call, named as the caller asked', async () => {
    const { upstream, client } = await stage();
    upstream.answer = (call) => ({
      json: {
        id: 'chatcmpl-t',
        object: 'chat.completion',
        created: 1,
        model: String(call.body.model),
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
            finish_reason: 'tool_calls',
            logprobs: null,
          },
        ],
        usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 },
      },
    });
    const sent = {
      model: 'llama',
      messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
      tools: [weatherTool],
      tool_choice: 'auto' as const,
      parallel_tool_calls: false,
      seed: 7,
      top_p: 0.9,
      top_k: 40,
    };
    const answer = await client.chat.completions.create(sent as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(answer.model).toBe('llama');
    expect(answer.choices[0]?.finish_reason).toBe('tool_calls');
    expect(answer.choices[0]?.message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    expect(onlyCall(upstream).body).toEqual(sent);
  });

  it('streams tool-call deltas that the SDK reassembles, with the usage chunk the caller asked for', async () => {
    const { upstream, client } = await stage();
    const base = { id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1, model: UPSTREAM_MODEL };
    upstream.answer = () => ({
      sse: [
        { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }] },
        { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city"' } }] }, finish_reason: null }] },
        { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ':"Oslo"}' } }] }, finish_reason: null }] },
        { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
        { ...base, choices: [], usage: { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 } },
      ],
    });
    const stream = client.chat.completions.stream({
      model: 'llama',
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [weatherTool],
      stream_options: { include_usage: true },
    });
    const models = new Set<string>();
    stream.on('chunk', (chunk) => models.add(chunk.model));
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls).toEqual([{ id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(final.usage).toEqual({ prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
    expect([...models]).toEqual(['llama']);
    expect(onlyCall(upstream).body).toMatchObject({ stream: true, stream_options: { include_usage: true }, tools: [weatherTool] });
  });

  it('leaves out the usage chunk the registrar asked for when the caller did not', async () => {
    const { upstream, client } = await stage();
    const base = { id: 'chatcmpl-u', object: 'chat.completion.chunk', created: 1, model: UPSTREAM_MODEL };
    upstream.answer = () => ({
      sse: [
        { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }] },
        { ...base, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } },
      ],
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], stream: true })) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.choices.length)).toEqual([1]);
    expect(chunks[0]?.choices[0]?.delta.content).toBe('Hi');
  });

  it('carries a tool-result turn (tool_call_id, assistant tool_calls, image parts) to the upstream as sent', async () => {
    const { upstream, client } = await stage();
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [{ type: 'text', text: 'What is this, and the weather?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
    ];
    const answer = await client.chat.completions.create({ model: 'llama', messages, tools: [weatherTool] });
    expect(answer.choices[0]?.message.content).toBe('Hello there');
    expect(answer.system_fingerprint).toBe('fp_test');
    expect(onlyCall(upstream).body).toEqual({ model: 'llama', messages, tools: [weatherTool] });
  });

  it('gives chat.completions.parse the structured answer of a json_schema response_format', async () => {
    const { upstream, client } = await stage();
    upstream.answer = (call) => ({
      json: {
        id: 'chatcmpl-p',
        object: 'chat.completion',
        created: 1,
        model: String(call.body.model),
        choices: [{ index: 0, message: { role: 'assistant', content: '{"city":"Lima","temp":18}', refusal: null }, finish_reason: 'stop', logprobs: null }],
      },
    });
    const responseFormat = {
      type: 'json_schema' as const,
      json_schema: { name: 'weather', strict: true, schema: { type: 'object', properties: { city: { type: 'string' }, temp: { type: 'number' } }, required: ['city', 'temp'], additionalProperties: false } },
    };
    const parsed = await client.chat.completions.parse({ model: 'llama', messages: [{ role: 'user', content: 'Lima?' }], response_format: responseFormat });
    expect(parsed.choices[0]?.message.parsed).toEqual({ city: 'Lima', temp: 18 });
    expect(onlyCall(upstream).body.response_format).toEqual(responseFormat);
  });

  it('returns every choice of n: 2 with its logprobs', async () => {
    const { upstream, client } = await stage();
    const logprobs = (token: string) => ({ content: [{ token, logprob: -0.25, bytes: [...Buffer.from(token)], top_logprobs: [{ token, logprob: -0.25, bytes: [...Buffer.from(token)] }] }], refusal: null });
    upstream.answer = (call) => ({
      json: {
        id: 'chatcmpl-n',
        object: 'chat.completion',
        created: 1,
        model: String(call.body.model),
        choices: [
          { index: 0, message: { role: 'assistant', content: 'Yes' }, finish_reason: 'stop', logprobs: logprobs('Yes') },
          { index: 1, message: { role: 'assistant', content: 'No' }, finish_reason: 'stop', logprobs: logprobs('No') },
        ],
      },
    });
    const answer = await client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'y/n?' }], n: 2, logprobs: true, top_logprobs: 1 });
    expect(answer.choices.map((choice) => choice.message.content)).toEqual(['Yes', 'No']);
    expect(answer.choices[1]?.logprobs).toEqual(logprobs('No'));
    expect(onlyCall(upstream).body).toMatchObject({ n: 2, logprobs: true, top_logprobs: 1 });
  });

  it("surfaces the upstream's 400 as the SDK's BadRequestError, with its fields, and the SDK does not retry it", async () => {
    const { upstream, client } = await stage();
    upstream.answer = () => ({ status: 400, json: { error: { message: "Invalid 'messages[1].tool_call_id': unknown id.", type: 'invalid_request_error', code: 'invalid_value', param: 'messages[1].tool_call_id' } } });
    const call = client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_value', param: 'messages[1].tool_call_id', type: 'invalid_request_error' });
    expect((error as Error).message).toContain("Invalid 'messages[1].tool_call_id'");
    expect(upstream.calls).toHaveLength(1);
  });

  it("answers 502 naming the model, not the upstream's address, when the model server refuses the registrar's key or fails", async () => {
    const { upstream, client } = await stage({ maxRetries: 0 });
    upstream.answer = () => ({ status: 401, json: { error: { message: 'Invalid API key', type: 'authentication_error', code: 'invalid_api_key', param: null } } });
    const refused = await client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 502 });
    expect((refused as Error).message).toBe("502 model 'llama': the model server refused the apiKey of its registrar");

    upstream.answer = () => ({ status: 429, json: { error: { message: 'slow down', type: 'rate_limit_error', code: null, param: null } } });
    await expect(client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] })).rejects.toBeInstanceOf(OpenAI.RateLimitError);

    upstream.answer = () => ({ status: 500, json: { error: { message: 'CUDA out of memory at http://10.0.0.7:8080/v1', type: 'server_error', code: null, param: null } } });
    const failed = await client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ status: 502 });
    expect((failed as Error).message).toBe("502 model 'llama': CUDA out of memory at (the model server)");
  });

  it('answers a streaming call that fails before its first chunk with the HTTP status, not a 200', async () => {
    const { upstream, client } = await stage();
    upstream.answer = () => ({ status: 400, json: { error: { message: 'bad stop', type: 'invalid_request_error', code: null, param: 'stop' } } });
    const error = await client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], stream: true, stop: ['\n'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, param: 'stop' });
    expect(upstream.calls).toHaveLength(1);
  });

  it('relays embeddings (the SDK asks for base64 and decodes it) under the name the caller asked for', async () => {
    const { upstream, client } = await stage();
    const answer = await client.embeddings.create({ model: 'llama', input: ['one', 'two'] });
    expect(answer.model).toBe('llama');
    expect(answer.data.map((item) => item.embedding)).toEqual([
      [0.25, -0.5, 1],
      [0.25, -0.5, 1],
    ]);
    expect(onlyCall(upstream).path).toBe('/v1/embeddings');
  });

  it('relays completions, plain and streamed, FIM suffix included', async () => {
    const { upstream, client } = await stage();
    const plain = await client.completions.create({ model: 'llama', prompt: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))', max_tokens: 16 });
    expect(plain.model).toBe('llama');
    expect(plain.choices[0]?.text).toBe('return a + b');
    expect(onlyCall(upstream).body).toEqual({ model: 'llama', prompt: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))', max_tokens: 16 });

    const texts: string[] = [];
    for await (const chunk of await client.completions.create({ model: 'llama', prompt: 'x', stream: true })) {
      expect(chunk.model).toBe('llama');
      texts.push(chunk.choices[0]?.text ?? '');
    }
    expect(texts.join('')).toBe('return a + b');
    expect(upstream.calls[1]?.path).toBe('/v1/completions');
  });

  it('retrieves one model by id, and answers NotFoundError for one the caller may not see', async () => {
    const { client } = await stage();
    expect(await client.models.retrieve('llama')).toMatchObject({ id: 'llama', object: 'model', owned_by: 'alice' });
    await expect(client.models.retrieve('nothing')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("puts an agent's system prompt first and fills its defaultParams where the caller set nothing", async () => {
    const { upstream, client } = await stage({
      agents: [{ name: 'reviewer', llmName: 'llama', systemPrompt: 'Review tersely.', defaultParams: { temperature: 0.1, top_k: 20, model: 'x' }, visibility: 'public' }],
    });
    const answer = await client.chat.completions.create({ model: 'reviewer', messages: [{ role: 'user', content: 'diff' }], temperature: 0.7 });
    expect(answer.model).toBe('reviewer');
    expect(onlyCall(upstream, 'reviewer').body).toEqual({
      model: 'reviewer',
      messages: [
        { role: 'system', content: 'Review tersely.' },
        { role: 'user', content: 'diff' },
      ],
      temperature: 0.7,
      top_k: 20,
    });
  });
});
