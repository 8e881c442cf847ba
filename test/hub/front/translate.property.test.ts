// Properties of the two translations: a request keeps every field chat completions can express, an answer keeps
// every field the front door can express, and a streamed answer, however the server cut it into chunks, gathers
// (by the official SDKs' own accumulators) into the same message or response as the answer sent whole.
import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import fc from 'fast-check';
import { ResponseStream } from 'openai/lib/responses/ResponseStream';
import type { ChatCompletionAssistantMessageParam, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { readChunk, readCompletion, type Answer } from '../../../src/hub/front/chat-answer.ts';
import { MessagesRequest } from '../../../src/hub/front/anthropic-request.ts';
import { AnthropicStreamTranslator } from '../../../src/hub/front/anthropic-stream.ts';
import { chatToMessage, messagesToChat } from '../../../src/hub/front/anthropic-translate.ts';
import { ResponsesRequest } from '../../../src/hub/front/responses-request.ts';
import { ResponsesStreamTranslator } from '../../../src/hub/front/responses-stream.ts';
import { outputItems, responsesToChat, toolNaming } from '../../../src/hub/front/responses-translate.ts';

const word = fc.string({ minLength: 1, maxLength: 12 });
const jsonObject = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean()), { maxKeys: 3 });
const toolName = fc.constantFrom('get_weather', 'read_file', 'run');

/** A chat answer as a model server might give it: text, reasoning, tool calls with JSON arguments, usage. */
const chatAnswer = fc.record({
  text: fc.string({ maxLength: 40 }),
  reasoning: fc.string({ maxLength: 20 }),
  calls: fc.array(fc.record({ name: toolName, args: jsonObject }), { maxLength: 3 }),
  finish: fc.constantFrom('stop', 'length', 'tool_calls', 'content_filter'),
  prompt: fc.nat(10_000),
  cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
  completion: fc.nat(10_000),
});
type ChatAnswer = typeof chatAnswer extends fc.Arbitrary<infer T> ? T : never;

function completionOf(a: ChatAnswer): object {
  const cached = Math.floor(a.prompt * a.cachedShare);
  return {
    choices: [
      {
        message: {
          content: a.text || null,
          ...(a.reasoning ? { reasoning_content: a.reasoning } : {}),
          ...(a.calls.length ? { tool_calls: a.calls.map((call, i) => ({ id: `call_${i}`, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.args) } })) } : {}),
        },
        finish_reason: a.finish,
      },
    ],
    usage: { prompt_tokens: a.prompt, completion_tokens: a.completion, prompt_tokens_details: { cached_tokens: cached } },
  };
}

function cut(text: string, points: number[]): string[] {
  const at = [...new Set(points.map((p) => p % (text.length + 1)))].sort((x, y) => x - y);
  const pieces: string[] = [];
  let from = 0;
  for (const point of [...at, text.length]) {
    pieces.push(text.slice(from, point));
    from = point;
  }
  return pieces.filter((piece) => piece !== '');
}

/** The same answer as a server streams it, cut where `points` say: role, reasoning, text, each call, finish, usage. */
function chunksOf(a: ChatAnswer, points: number[]): object[] {
  const chunk = (delta: object, finish: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finish }] });
  const out: object[] = [chunk({ role: 'assistant', content: '' })];
  for (const piece of cut(a.reasoning, points)) out.push(chunk({ reasoning_content: piece }));
  for (const piece of cut(a.text, points)) out.push(chunk({ content: piece }));
  a.calls.forEach((call, index) => {
    out.push(chunk({ tool_calls: [{ index, id: `call_${index}`, type: 'function', function: { name: call.name, arguments: '' } }] }));
    for (const piece of cut(JSON.stringify(call.args), points)) out.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
  });
  out.push(chunk({}, a.finish));
  const whole = completionOf(a) as { usage: object };
  out.push({ choices: [], usage: whole.usage });
  return out;
}

function ndjson(lines: object[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
  return new ReadableStream({ start: (controller) => (controller.enqueue(bytes), controller.close()) });
}

const newToolId = () => 'toolu_generated';

describe('Anthropic Messages ⇄ chat completions', () => {
  const block = fc.oneof(
    word.map((text) => ({ type: 'text', text })),
    fc.base64String({ minLength: 4, maxLength: 12 }).map((data) => ({ type: 'image', source: { type: 'base64', media_type: 'image/png', data } })),
  );
  const turn = fc.oneof(
    fc.record({ role: fc.constant('user'), content: fc.oneof(word, fc.array(block, { minLength: 1, maxLength: 3 })) }),
    fc.record({
      role: fc.constant('assistant'),
      content: fc.tuple(fc.option(word, { nil: undefined }), fc.array(fc.record({ name: toolName, input: jsonObject }), { maxLength: 2 })).map(([text, uses]) => [
        ...(text ? [{ type: 'text', text }] : []),
        ...uses.map((use) => ({ type: 'tool_use', id: `toolu_${use.name}`, name: use.name, input: use.input })),
      ]),
    }),
  );
  const request = fc.record(
    {
      model: word,
      max_tokens: fc.integer({ min: 1, max: 100_000 }),
      system: fc.option(word, { nil: undefined }),
      messages: fc.array(turn, { minLength: 1, maxLength: 5 }).map((turns) =>
        turns.flatMap((generated, turnIndex): Array<{ role: string; content: unknown }> => {
          // Tool use ids are unique in a conversation.
          const t = Array.isArray(generated.content)
            ? { ...generated, content: (generated.content as Array<{ type: string; id?: string }>).map((b, i) => (b.type === 'tool_use' ? { ...b, id: `${b.id}_${turnIndex}_${i}` } : b)) }
            : generated;
          // Every tool_use is answered by the user's next turn, as an API caller must.
          const uses = Array.isArray(t.content) ? t.content.filter((b) => b.type === 'tool_use') : [];
          if (!uses.length) return [t];
          return [t, { role: 'user', content: uses.map((use) => ({ type: 'tool_result', tool_use_id: (use as { id: string }).id, content: `result of ${(use as { id: string }).id}` })) }];
        }),
      ),
      temperature: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      top_p: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      top_k: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      stop_sequences: fc.option(fc.array(word, { minLength: 1, maxLength: 3 }), { nil: undefined }),
      tools: fc.option(fc.uniqueArray(toolName, { minLength: 1 }).map((names) => names.map((name) => ({ name, description: `does ${name}`, input_schema: { type: 'object', properties: {} } }))), { nil: undefined }),
    },
    { requiredKeys: ['model', 'max_tokens', 'messages'] },
  );

  it('a request keeps its texts, images, tool calls, tool results, tools and sampling fields', () => {
    fc.assert(
      fc.property(request, (raw) => {
        const parsed = v.parse(MessagesRequest, JSON.parse(JSON.stringify(raw)));
        const out = messagesToChat(parsed);
        expect(out.ok).toBe(true);
        if (!out.ok) return;
        const body = out.value;
        const chat = JSON.stringify(body.messages);
        for (const field of ['model', 'max_tokens', 'temperature', 'top_p', 'top_k'] as const) expect(body[field as keyof typeof body]).toEqual(parsed[field]);
        expect(body.stop).toEqual(parsed.stop_sequences);
        if (parsed.system) expect(body.messages[0]).toEqual({ role: 'system', content: parsed.system });
        const calls = body.messages.flatMap((m: ChatCompletionMessageParam) => (m.role === 'assistant' ? ((m as ChatCompletionAssistantMessageParam).tool_calls ?? []) : []));
        const toolMessages = body.messages.filter((m) => m.role === 'tool');
        for (const message of parsed.messages) {
          if (typeof message.content === 'string') {
            expect(chat).toContain(JSON.stringify(message.content).slice(1, -1));
            continue;
          }
          for (const b of message.content as Array<Record<string, unknown>>) {
            if (b.type === 'text') expect(chat).toContain(JSON.stringify(b.text).slice(1, -1));
            if (b.type === 'image') expect(chat).toContain(`data:image/png;base64,${(b.source as { data: string }).data}`);
            if (b.type === 'tool_use') {
              const call = calls.find((c) => c.id === b.id);
              expect(call && call.type === 'function' && { name: call.function.name, input: JSON.parse(call.function.arguments) }).toEqual({ name: b.name, input: b.input });
            }
            if (b.type === 'tool_result') expect(toolMessages).toContainEqual({ role: 'tool', tool_call_id: b.tool_use_id, content: b.content });
          }
        }
        expect((body.tools ?? []).map((t) => t.type === 'function' && [t.function.name, t.function.description, t.function.parameters])).toEqual(
          (parsed.tools ?? []).map((t) => [t.name, t.description, t.input_schema]),
        );
      }),
    );
  });

  it('an answer keeps its text, thinking, tool calls with their inputs, stop reason and usage', () => {
    fc.assert(
      fc.property(chatAnswer, (a) => {
        const answer = readCompletion(completionOf(a), newToolId);
        if (!answer.ok) throw new Error(answer.error);
        const message = chatToMessage(answer.value, { id: 'msg_1', model: 'm' });
        expect(message.content.filter((b) => b.type === 'text').map((b) => b.type === 'text' && b.text).join('')).toBe(a.text);
        expect(message.content.filter((b) => b.type === 'thinking').map((b) => b.type === 'thinking' && b.thinking).join('')).toBe(a.reasoning);
        expect(message.content.filter((b) => b.type === 'tool_use')).toEqual(a.calls.map((call, i) => ({ type: 'tool_use', id: `call_${i}`, name: call.name, input: call.args })));
        const expected = a.finish === 'length' ? 'max_tokens' : a.finish === 'content_filter' ? 'refusal' : a.finish === 'tool_calls' || a.calls.length ? 'tool_use' : 'end_turn';
        expect(message.stop_reason).toBe(expected);
        expect(message.usage.input_tokens + message.usage.cache_read_input_tokens).toBe(a.prompt);
        expect(message.usage.output_tokens).toBe(a.completion);
      }),
    );
  });

  it('a streamed answer, cut anywhere, gathers in the SDK into the message sent whole', async () => {
    await fc.assert(
      fc.asyncProperty(chatAnswer, fc.array(fc.nat(60), { maxLength: 6 }), async (a, points) => {
        const translator = new AnthropicStreamTranslator({ id: 'msg_1', model: 'm', inputEstimate: 3, newToolId });
        const events = [...translator.start(), ...chunksOf(a, points).flatMap((c) => translator.push(readChunk(c))), ...translator.finish()];
        const gathered = await MessageStream.fromReadableStream(ndjson(events.filter((e) => e.event !== 'ping').map((e) => e.data))).finalMessage();
        const whole = readCompletion(completionOf(a), newToolId);
        if (!whole.ok) throw new Error(whole.error);
        expect(gathered).toEqual(expect.objectContaining(chatToMessage(whole.value, { id: 'msg_1', model: 'm' })));
      }),
      { numRuns: 60 },
    );
  });
});

describe('OpenAI Responses ⇄ chat completions', () => {
  const item = fc.oneof(
    fc.record({ role: fc.constantFrom('user', 'assistant'), content: word }),
    fc.record({ role: fc.constant('user'), content: fc.array(word.map((text) => ({ type: 'input_text', text })), { minLength: 1, maxLength: 3 }) }),
    fc.record({ type: fc.constant('function_call'), call_id: word.map((w) => `call_${w}`), name: toolName, arguments: jsonObject.map((o) => JSON.stringify(o)) }),
    fc.record({ type: fc.constant('function_call_output'), call_id: word.map((w) => `call_${w}`), output: word }),
  );
  const request = fc.record(
    {
      model: word,
      instructions: fc.option(word, { nil: undefined }),
      input: fc.oneof(word, fc.array(item, { minLength: 1, maxLength: 6 })),
      max_output_tokens: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
      temperature: fc.option(fc.double({ min: 0, max: 2, noNaN: true }), { nil: undefined }),
      top_p: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      tools: fc.option(fc.uniqueArray(toolName, { minLength: 1 }).map((names) => names.map((name) => ({ type: 'function', name, parameters: { type: 'object' }, strict: false }))), { nil: undefined }),
    },
    { requiredKeys: ['model', 'input'] },
  );

  it('a request keeps its instructions, texts, function calls, their outputs, tools and sampling fields', () => {
    fc.assert(
      fc.property(request, (raw) => {
        const parsed = v.parse(ResponsesRequest, raw);
        const out = responsesToChat(parsed);
        expect(out.ok).toBe(true);
        if (!out.ok) return;
        const { body } = out.value;
        const chat = JSON.stringify(body.messages);
        expect([body.model, body.max_tokens, body.temperature, body.top_p]).toEqual([parsed.model, parsed.max_output_tokens ?? undefined, parsed.temperature ?? undefined, parsed.top_p ?? undefined]);
        if (parsed.instructions) expect(body.messages[0]).toMatchObject({ role: 'system' });
        if (parsed.instructions) expect((body.messages[0]!.content as string).startsWith(parsed.instructions)).toBe(true);
        const items = typeof parsed.input === 'string' ? [{ role: 'user', content: parsed.input }] : parsed.input;
        const calls = body.messages.flatMap((m) => (m.role === 'assistant' ? ((m as ChatCompletionAssistantMessageParam).tool_calls ?? []) : []));
        for (const it of items as Array<Record<string, unknown>>) {
          if (it.type === 'function_call') expect(calls).toContainEqual({ id: it.call_id, type: 'function', function: { name: it.name, arguments: it.arguments } });
          else if (it.type === 'function_call_output') expect(body.messages).toContainEqual({ role: 'tool', tool_call_id: it.call_id, content: it.output });
          else {
            const texts = typeof it.content === 'string' ? [it.content] : (it.content as Array<{ text: string }>).map((p) => p.text);
            for (const text of texts) expect(chat).toContain(JSON.stringify(text).slice(1, -1));
          }
        }
        expect((body.tools ?? []).map((t) => t.type === 'function' && t.function.name)).toEqual((parsed.tools ?? []).map((t) => t.name));
      }),
    );
  });

  it('a streamed answer, cut anywhere, gathers in the SDK into the output sent whole, with the same usage', async () => {
    await fc.assert(
      fc.asyncProperty(chatAnswer, fc.array(fc.nat(60), { maxLength: 6 }), async (a, points) => {
        let n = 0;
        const ids = { message: () => `msg_${n++}`, call: () => `fc_${n++}`, reasoning: () => `rs_${n++}` };
        const naming = toolNaming([]);
        const translator = new ResponsesStreamTranslator({ id: 'resp_1', createdAt: 1, echo: { model: 'm' }, ids, naming, newCallId: newToolId });
        const events = [...translator.start(), ...chunksOf(a, points).flatMap((c) => translator.push(readChunk(c))), ...translator.finish().events];
        const gathered = await ResponseStream.fromReadableStream(ndjson(events)).finalResponse();
        const whole = readCompletion(completionOf(a), newToolId);
        if (!whole.ok) throw new Error(whole.error);
        n = 0;
        // The SDK adds `parsed` and `parsed_arguments` (structured outputs) to what it gathers.
        const withoutIds = (items: ReadonlyArray<object>) =>
          JSON.parse(JSON.stringify(items.map(({ id: _id, ...rest }: { id?: string }) => rest), (key, value) => (key === 'parsed' || key === 'parsed_arguments' ? undefined : value)));
        const expected = outputItems(whole.value as Answer, ids, naming).map((item) => (item.type === 'reasoning' ? { ...item, status: 'completed' } : item));
        expect(withoutIds(gathered.output)).toEqual(withoutIds(expected));
        expect(gathered.usage).toMatchObject({ input_tokens: a.prompt, output_tokens: a.completion, total_tokens: a.prompt + a.completion });
        expect(gathered.status).toBe(a.finish === 'length' || a.finish === 'content_filter' ? 'incomplete' : 'completed');
      }),
      { numRuns: 60 },
    );
  });
});
