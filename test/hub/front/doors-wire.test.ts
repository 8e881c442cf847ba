// The front doors' ChatCaller over the dispatcher, seen from the wire: a registrar speaking it with plain fetch (the
// base wire, so every answer form a registrar may send can be scripted) and the official SDKs as callers. A wake
// under keep-alives, chunks for a call that was not streamed, a whole completion for one that was (before and after
// the stream started), a failure after the stream started, no healthy member, a field the base wire cannot carry.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { ALICE, chunkData, completion, hubHarness, provider } from '../helpers.ts';

const harness = hubHarness({ keepAliveMs: 50 });

async function online(initialStatus: 'active' | 'hibernating' = 'active') {
  const hub = await harness.start();
  const registrar = harness.registrar(hub);
  await registrar.register([provider('llama', { initialStatus })]);
  const stream = await registrar.stream();
  const anthropic = new Anthropic({ baseURL: hub.url, apiKey: ALICE, maxRetries: 0 });
  const openai = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: ALICE, maxRetries: 0 });
  return { hub, registrar, stream, anthropic, openai };
}

const hello = [{ role: 'user' as const, content: 'hi' }];

describe('the front doors over the dispatcher, on the wire', () => {
  it('gathers the chunks of a registrar that streamed a call that was not streamed', async () => {
    const { registrar, stream, anthropic } = await online();
    const call = anthropic.messages.create({ model: 'llama', max_tokens: 16, messages: hello });
    const frame = await stream.nextTask();
    expect(frame).toMatchObject({ kind: 'infer', streaming: false, request: { messages: hello, max_tokens: 16 } });
    await registrar.result(frame.taskId, { chunk: { data: chunkData('one ') } });
    await registrar.result(frame.taskId, { chunk: { data: chunkData('two', 'length') } });
    await registrar.result(frame.taskId, { chunk: { data: '[DONE]', done: true } });
    expect(await call).toMatchObject({ model: 'llama', content: [{ type: 'text', text: 'one two' }], stop_reason: 'max_tokens' });
  });

  it('streams a whole completion answered to a streamed call, whether it came before the stream started or after', async () => {
    const { registrar, stream, anthropic, openai } = await online();
    const early = anthropic.messages.stream({ model: 'llama', max_tokens: 16, messages: hello });
    const first = await stream.nextTask();
    await registrar.result(first.taskId, { status: 200, body: completion('all at once') });
    expect((await early.finalMessage()).content).toEqual([{ type: 'text', text: 'all at once' }]);

    const late = openai.responses.stream({ model: 'llama', input: 'hi' });
    const created = new Promise<void>((resolve) => late.on('response.created', () => resolve()));
    const second = await stream.nextTask();
    // The keep-alive interval (50 ms) passed: the stream has started before the answer.
    await created;
    await registrar.result(second.taskId, { status: 200, body: completion('all at once, later') });
    expect((await late.finalResponse()).output_text).toBe('all at once, later');
  });

  it('covers a wake with message_start and keep-alives, then streams the answer', async () => {
    const { hub, registrar, stream } = await online('hibernating');
    const caller = await harness.client(hub, ALICE).sse('/v1/messages', { method: 'POST', body: { model: 'llama', max_tokens: 16, stream: true, messages: hello } });
    const wake = await stream.nextTask();
    expect(wake).toMatchObject({ kind: 'wake', llmName: 'llama' });
    expect(caller.response.status).toBe(200);
    expect(await caller.next()).toMatchObject({ event: 'message_start' });
    expect(await caller.next()).toMatchObject({ event: 'ping' });
    expect(await caller.next()).toEqual({ comment: 'keep-alive' });

    await registrar.result(wake.taskId, { status: 200, body: { ok: true, ms: 40 } });
    const infer = await stream.nextTask();
    await registrar.result(infer.taskId, { chunk: { data: chunkData('awake', 'stop') } });
    await registrar.result(infer.taskId, { chunk: { data: '[DONE]', done: true } });
    const events = (await caller.rest()).map((data) => JSON.parse(data) as { type: string; delta?: { text?: string } });
    expect(events.find((event) => event.type === 'content_block_delta')?.delta).toEqual({ type: 'text_delta', text: 'awake' });
    expect(events.at(-1)).toEqual({ type: 'message_stop' });
  });

  it('ends a started stream with the API’s own error event when the registrar fails the call', async () => {
    const { registrar, stream, anthropic, openai } = await online();
    const messages = anthropic.messages.stream({ model: 'llama', max_tokens: 16, messages: hello });
    const started = new Promise<void>((resolve) => messages.on('streamEvent', (event) => event.type === 'message_start' && resolve()));
    const first = await stream.nextTask();
    await started;
    await registrar.result(first.taskId, { error: 'connection to http://10.0.0.7:8000/v1 refused' });
    const failed = await messages.finalMessage().catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(Anthropic.APIError);
    expect(String((failed as Error).message)).toContain("model 'llama': connection to (the model server) refused");

    const events: string[] = [];
    const responses = await openai.responses.create({ model: 'llama', input: 'hi', stream: true });
    const second = await stream.nextTask();
    let failure: unknown;
    for await (const event of responses) {
      events.push(event.type);
      if (event.type === 'response.created') await registrar.result(second.taskId, { error: 'out of memory' });
      if (event.type === 'response.failed') failure = event.response.error;
    }
    expect(events.at(-1)).toBe('response.failed');
    expect(failure).toEqual({ code: 'server_error', message: "model 'llama': out of memory" });
  });

  it('answers 503 with Retry-After in each API’s shape when no member is healthy', async () => {
    const { hub, registrar } = await online();
    await registrar.heartbeat({ providers: [{ name: 'llama', status: 'unavailable' }] });
    const post = (path: string, body: unknown) => harness.client(hub, ALICE).post(path, body, { 'x-api-key': ALICE });
    const messages = await post('/v1/messages', { model: 'llama', max_tokens: 16, messages: hello });
    expect(messages.status).toBe(503);
    expect(messages.headers.get('retry-after')).toBe('5');
    expect(await messages.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: "model 'llama' has no healthy provider (llama: unavailable)" } });
    const responses = await post('/v1/responses', { model: 'llama', input: 'hi' });
    expect(responses.status).toBe(503);
    expect(responses.headers.get('retry-after')).toBe('5');
    expect(await responses.json()).toMatchObject({ error: { type: 'server_error', message: "model 'llama' has no healthy provider (llama: unavailable)" } });
  });

  it('refuses, before any task, what the base wire cannot carry, naming the field in each API’s shape', async () => {
    const { anthropic, openai, stream } = await online();
    const tools = [{ name: 'f', input_schema: { type: 'object' as const } }];
    const refused = await anthropic.messages.create({ model: 'llama', max_tokens: 16, tools, messages: hello }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining("'tools' cannot be carried") } });
    const alsoRefused = await openai.responses.create({ model: 'llama', input: 'hi', tools: [{ type: 'function', name: 'f', parameters: {}, strict: false }] }).catch((error: unknown) => error);
    expect(alsoRefused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((alsoRefused as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ param: 'tools', code: 'unsupported_parameter' });
    await expect(stream.nextEvent(100)).rejects.toThrow(/no SSE event other than comments/);
  });
});
