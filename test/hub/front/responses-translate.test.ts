// Table tests of the Responses ⇄ chat translation and of the store behind previous_response_id.
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { readChunk, readCompletion } from '../../../src/hub/front/chat-answer.ts';
import { ResponsesRequest } from '../../../src/hub/front/responses-request.ts';
import { ResponseStore } from '../../../src/hub/front/responses-store.ts';
import { ResponsesStreamTranslator } from '../../../src/hub/front/responses-stream.ts';
import { outputItems, responsesToChat, toolNaming } from '../../../src/hub/front/responses-translate.ts';

const toChat = (request: Record<string, unknown>) => responsesToChat(v.parse(ResponsesRequest, { model: 'm', ...request }));
let n = 0;
const ids = { message: () => `msg_${++n}`, call: () => `fc_${++n}`, reasoning: () => `rs_${++n}` };

describe('responsesToChat', () => {
  it.each([
    ['a string input after the instructions', { instructions: 'I', input: 'hi' }, { messages: [{ role: 'system', content: 'I' }, { role: 'user', content: 'hi' }] }],
    [
      'developer and system items, folded into the one system message first',
      { instructions: 'I', input: [{ role: 'developer', content: 'D' }, { role: 'user', content: [{ type: 'input_text', text: 'hi' }] }] },
      { messages: [{ role: 'system', content: 'I\n\nD' }, { role: 'user', content: 'hi' }] },
    ],
    [
      'an image by URL, with its detail',
      { input: [{ role: 'user', content: [{ type: 'input_text', text: 'what?' }, { type: 'input_image', image_url: 'http://x/i.png', detail: 'low' }] }] },
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'what?' }, { type: 'image_url', image_url: { url: 'http://x/i.png', detail: 'low' } }] }] },
    ],
    [
      'an output message and the calls after it as one assistant turn, their outputs as tool messages, reasoning left out',
      {
        input: [
          { type: 'reasoning', id: 'rs_1', summary: [] },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'let me look', annotations: [] }] },
          { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
          { type: 'function_call', call_id: 'c2', name: 'spawn_agent', namespace: 'multi_agent_v1', arguments: '{"x":1}' },
          { type: 'function_call_output', call_id: 'c1', output: 'one' },
          { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'two' }] },
        ],
      },
      {
        messages: [
          {
            role: 'assistant',
            content: 'let me look',
            tool_calls: [
              { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } },
              { id: 'c2', type: 'function', function: { name: 'multi_agent_v1__spawn_agent', arguments: '{"x":1}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'c1', content: 'one' },
          { role: 'tool', tool_call_id: 'c2', content: 'two' },
        ],
      },
    ],
    [
      'function and namespace tools, a named tool choice, parallel calls, sampling, a JSON schema and an effort',
      {
        input: 'hi',
        tools: [
          { type: 'function', name: 'f', parameters: { type: 'object' }, strict: true },
          { type: 'namespace', name: 'ns', description: 'd', tools: [{ type: 'function', name: 'g', description: 'G' }] },
        ],
        tool_choice: { type: 'function', name: 'f' },
        parallel_tool_calls: false,
        max_output_tokens: 50,
        temperature: 0.1,
        top_p: 0.5,
        text: { format: { type: 'json_schema', name: 'r', schema: { type: 'object' }, strict: true } },
        reasoning: { effort: 'xhigh' },
        safety_identifier: 'u1',
      },
      {
        tools: [
          { type: 'function', function: { name: 'f', parameters: { type: 'object' }, strict: true } },
          { type: 'function', function: { name: 'ns__g', description: 'G' } },
        ],
        tool_choice: { type: 'function', function: { name: 'f' } },
        parallel_tool_calls: false,
        max_tokens: 50,
        temperature: 0.1,
        top_p: 0.5,
        response_format: { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object' }, strict: true } },
        reasoning_effort: 'high',
        user: 'u1',
      },
    ],
    ['json_object mode', { input: 'hi', text: { format: { type: 'json_object' } } }, { response_format: { type: 'json_object' } }],
    ['streaming, with the usage chunk asked for', { input: 'hi', stream: true }, { stream: true, stream_options: { include_usage: true } }],
  ])('%s', (_name, request, expected) => {
    expect(toChat(request)).toMatchObject({ ok: true, value: { body: { model: 'm', ...expected } } });
  });

  it('puts the conversation it continues before the new input, keeping the instructions out of what is stored', () => {
    const out = toChat({ instructions: 'I', input: 'and then?' });
    const continued = responsesToChat(v.parse(ResponsesRequest, { model: 'm', instructions: 'J', input: 'more' }), [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'ok' }]);
    expect(out.ok && out.value.conversation).toEqual([{ role: 'user', content: 'and then?' }]);
    expect(continued.ok && continued.value.body.messages).toEqual([
      { role: 'system', content: 'J' },
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'more' },
    ]);
  });

  it.each([
    ['a hosted tool', { tools: [{ type: 'file_search', vector_store_ids: [] }] }, 'tools[0]'],
    ['a custom tool in a namespace', { tools: [{ type: 'namespace', name: 'ns', tools: [{ type: 'custom', name: 'c' }] }] }, 'tools[0].tools[0]'],
    ['an item reference', { input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0]'],
    ['an input file', { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].content[0]'],
    ['an image by file id', { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f', detail: 'auto' }] }] }, 'input[0].content[0]'],
    ['a conversation', { conversation: 'conv_1' }, 'conversation'],
    ['background mode', { background: true }, 'background'],
  ])('refuses %s, naming the param', (_name, request, param) => {
    const out = toChat({ input: 'hi', ...request });
    expect(out).toMatchObject({ ok: false, param });
  });
});

describe('outputItems and the stream translator', () => {
  it('turns an answer into reasoning, message and function_call items, a namespaced call split back', () => {
    const answer = readCompletion(
      { choices: [{ message: { content: 'hi', reasoning: 'hm', tool_calls: [{ id: 'c1', function: { name: 'ns__g', arguments: '{}' } }] }, finish_reason: 'tool_calls' }] },
      () => 'call_x',
    );
    const items = answer.ok ? outputItems(answer.value, ids, toolNaming([{ type: 'namespace', name: 'ns' }])) : [];
    expect(items).toMatchObject([
      { type: 'reasoning', content: [{ type: 'reasoning_text', text: 'hm' }] },
      { type: 'message', status: 'completed', content: [{ type: 'output_text', text: 'hi' }] },
      { type: 'function_call', call_id: 'c1', name: 'g', namespace: 'ns', arguments: '{}', status: 'completed' },
    ]);
  });

  it('numbers events in sequence, closes each item before the next, and ends incomplete when the model ran out of tokens', () => {
    const translator = new ResponsesStreamTranslator({ id: 'resp_1', createdAt: 1, echo: { model: 'm' }, ids, naming: toolNaming([]), newCallId: () => 'call_x' });
    const chunk = (delta: object, finish: string | null = null) => readChunk({ choices: [{ index: 0, delta, finish_reason: finish }] });
    const events = [
      ...translator.start(),
      ...translator.push(chunk({ reasoning_content: 'hm' })),
      ...translator.push(chunk({ content: 'Hi' })),
      ...translator.push(chunk({}, 'length')),
      ...translator.push(readChunk({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 2 } })),
      ...translator.finish().events,
    ];
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.incomplete',
    ]);
    expect(events.at(-1)).toMatchObject({ response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: { input_tokens: 4, output_tokens: 2, total_tokens: 6 } } });
  });
});

describe('ResponseStore', () => {
  const turn = (text: string) => [{ role: 'user' as const, content: text }];

  it('keeps a user’s responses for that user alone', () => {
    const store = new ResponseStore();
    store.put('alice', 'r1', turn('a'));
    expect(store.get('alice', 'r1')).toEqual(turn('a'));
    expect(store.get('bob', 'r1')).toBeUndefined();
  });

  it('drops the oldest past the count a user may keep', () => {
    const store = new ResponseStore({ maxPerUser: 2 });
    for (const id of ['r1', 'r2', 'r3']) store.put('alice', id, turn(id));
    expect([store.get('alice', 'r1'), store.size('alice')]).toEqual([undefined, 2]);
    expect(store.get('alice', 'r3')).toEqual(turn('r3'));
  });

  it('drops the oldest past the bytes a user may keep, and refuses one conversation larger than that', () => {
    const store = new ResponseStore({ maxBytesPerUser: 100 });
    store.put('alice', 'r1', turn('x'.repeat(40)));
    store.put('alice', 'r2', turn('y'.repeat(40)));
    expect(store.get('alice', 'r1')).toBeUndefined();
    expect(store.put('alice', 'big', turn('z'.repeat(200)))).toBe(false);
    expect(store.get('alice', 'r2')).toBeDefined();
  });

  it('forgets a response past its age', () => {
    let now = 0;
    const store = new ResponseStore({ maxAgeMs: 1000, now: () => now });
    store.put('alice', 'r1', turn('a'));
    now = 999;
    expect(store.get('alice', 'r1')).toBeDefined();
    now = 1000;
    expect(store.get('alice', 'r1')).toBeUndefined();
  });
});

describe('a streamed call whose name never came', () => {
  it('goes out as text rather than being lost', () => {
    const translator = new ResponsesStreamTranslator({ id: 'resp_1', createdAt: 1, echo: {}, ids, naming: toolNaming([]), newCallId: () => 'call_x' });
    translator.start();
    translator.push(readChunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }, finish_reason: null }] }));
    const { response } = translator.finish();
    expect(response.output).toMatchObject([{ type: 'message', content: [{ type: 'output_text', text: '{"a":1}' }] }]);
  });
});
