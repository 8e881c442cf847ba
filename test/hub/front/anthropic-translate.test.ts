// Table tests of the Anthropic ⇄ chat translation: each row a Messages request or a chat answer, and what it becomes.
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { readChunk, readCompletion } from '../../../src/hub/front/chat-answer.ts';
import { MessagesRequest } from '../../../src/hub/front/anthropic-request.ts';
import { AnthropicStreamTranslator } from '../../../src/hub/front/anthropic-stream.ts';
import { chatToMessage, estimateInputTokens, messagesToChat } from '../../../src/hub/front/anthropic-translate.ts';

const base = { model: 'm', max_tokens: 100 };
const toChat = (request: Record<string, unknown>) => messagesToChat(v.parse(MessagesRequest, { ...base, ...request }));
const ids = () => 'toolu_fixed';

describe('messagesToChat', () => {
  it.each([
    ['a system string', { system: 'S', messages: [{ role: 'user', content: 'hi' }] }, { messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi' }] }],
    [
      'system blocks, joined',
      { system: [{ type: 'text', text: 'A', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'B' }], messages: [{ role: 'user', content: 'hi' }] },
      { messages: [{ role: 'system', content: 'A\n\nB' }, { role: 'user', content: 'hi' }] },
    ],
    [
      'a system turn mid-conversation, folded into the user turn it follows',
      { messages: [{ role: 'user', content: 'hi' }, { role: 'system', content: 'be brief' }] },
      { messages: [{ role: 'user', content: 'hi\n\nbe brief' }] },
    ],
    [
      'an image, as a data URL part',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'what?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }] },
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'what?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] },
    ],
    [
      'tool results before the text of the same turn, an error flagged in the text',
      {
        messages: [
          { role: 'assistant', content: [{ type: 'text', text: 'checking' }, { type: 'tool_use', id: 't1', name: 'f', input: { a: 1 } }] },
          { role: 'user', content: [{ type: 'text', text: 'and?' }, { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'boom' }], is_error: true }] },
        ],
      },
      {
        messages: [
          { role: 'assistant', content: 'checking', tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
          { role: 'tool', tool_call_id: 't1', content: '[tool error] boom' },
          { role: 'user', content: 'and?' },
        ],
      },
    ],
    [
      'an image a tool returned, after the tool message as the user’s',
      { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'image', source: { type: 'url', url: 'http://x/i.png' } }] }] }] },
      { messages: [{ role: 'tool', tool_call_id: 't1', content: '' }, { role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/i.png' } }] }] },
    ],
    [
      'thinking replayed from an earlier answer, left out',
      { messages: [{ role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 's' }, { type: 'text', text: 'ok' }] }] },
      { messages: [{ role: 'assistant', content: 'ok' }] },
    ],
    [
      'tools, tool_choice any without parallel calls, sampling, stop, metadata, streaming',
      {
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ name: 'f', description: 'd', input_schema: { type: 'object' } }],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        temperature: 0.5,
        top_p: 0.8,
        top_k: 20,
        stop_sequences: ['X'],
        metadata: { user_id: 'u' },
        stream: true,
      },
      {
        tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' } } }],
        tool_choice: 'required',
        parallel_tool_calls: false,
        temperature: 0.5,
        top_p: 0.8,
        top_k: 20,
        stop: ['X'],
        user: 'u',
        stream: true,
        stream_options: { include_usage: true },
      },
    ],
    ['tool_choice of one tool', { messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'f', input_schema: {} }], tool_choice: { type: 'tool', name: 'f' } }, { tool_choice: { type: 'function', function: { name: 'f' } } }],
    ['a thinking budget, as a reasoning effort', { messages: [{ role: 'user', content: 'hi' }], thinking: { type: 'enabled', budget_tokens: 8000 } }, { reasoning_effort: 'medium' }],
    [
      'a JSON output format, as a json_schema response_format',
      { messages: [{ role: 'user', content: 'hi' }], output_config: { format: { type: 'json_schema', schema: { type: 'object' } } } },
      { response_format: { type: 'json_schema', json_schema: { name: 'output', schema: { type: 'object' }, strict: true } } },
    ],
  ])('%s', (_name, request, expected) => {
    const out = toChat(request);
    expect(out).toMatchObject({ ok: true, value: { model: 'm', max_tokens: 100, ...expected } });
  });

  it.each([
    ['a server tool', { tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, /tools\[0\]: 'web_search_20250305'/],
    ['a document block', { messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, /messages\[0\]\.content\[0\]: a document block/],
    ['an image by file id', { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f' } }] }] }, /messages\[0\]\.content\[0\]\.source: only base64 and url/],
    ['MCP servers', { mcp_servers: [{ url: 'x' }] }, /mcp_servers: runs on Anthropic/],
  ])('refuses %s, naming where', (_name, request, message) => {
    const out = toChat({ messages: [{ role: 'user', content: 'hi' }], ...request });
    expect(out.ok).toBe(false);
    expect(out.ok ? '' : out.message).toMatch(message);
  });
});

describe('chatToMessage', () => {
  const context = { id: 'msg_1', model: 'm', stopSequences: ['END'] };
  it.each([
    ['stop', {}, 'end_turn', null],
    ['length', {}, 'max_tokens', null],
    ['tool_calls', {}, 'tool_use', null],
    ['content_filter', {}, 'refusal', null],
    ['stop', { stop_reason: 'END' }, 'stop_sequence', 'END'],
  ])('finish_reason %s %j → stop_reason %s', (finish, extra, stopReason, stopSequence) => {
    const answer = readCompletion({ choices: [{ message: { content: 'x' }, finish_reason: finish, ...extra }] }, ids);
    expect(answer.ok && chatToMessage(answer.value, context)).toMatchObject({ stop_reason: stopReason, stop_sequence: stopSequence });
  });

  it('says tool_use when a server answers tool calls with finish_reason stop (Ollama)', () => {
    const answer = readCompletion({ choices: [{ message: { content: null, tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'stop' }] }, ids);
    expect(answer.ok && chatToMessage(answer.value, context)).toMatchObject({ stop_reason: 'tool_use', content: [{ type: 'tool_use', id: 'c', name: 'f', input: {} }] });
  });

  it('puts reasoning first as a thinking block, and counts cached prompt tokens apart', () => {
    const answer = readCompletion(
      { choices: [{ message: { content: 'yes', reasoning_content: 'let me think' }, finish_reason: 'stop' }], usage: { prompt_tokens: 100, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 60 } } },
      ids,
    );
    expect(answer.ok && chatToMessage(answer.value, context)).toMatchObject({
      content: [{ type: 'thinking', thinking: 'let me think' }, { type: 'text', text: 'yes' }],
      usage: { input_tokens: 40, cache_read_input_tokens: 60, output_tokens: 5 },
    });
  });

  it('keeps a model’s broken tool arguments as their text, so the caller’s validator can say why', () => {
    const answer = readCompletion({ choices: [{ message: { tool_calls: [{ function: { name: 'f', arguments: '{"a":' } }] }, finish_reason: 'tool_calls' }] }, ids);
    expect(answer.ok && chatToMessage(answer.value, context).content).toEqual([{ type: 'tool_use', id: 'toolu_fixed', name: 'f', input: '{"a":' }]);
  });
});

describe('AnthropicStreamTranslator', () => {
  const chunk = (delta: object, finish: string | null = null) => readChunk({ choices: [{ index: 0, delta, finish_reason: finish }] });

  it('opens a block per kind, tool arguments that come before the name wait for it, message_delta after the usage chunk', () => {
    const translator = new AnthropicStreamTranslator({ id: 'msg_1', model: 'm', inputEstimate: 7, newToolId: ids });
    const events = [
      ...translator.start(),
      ...translator.push(chunk({ reasoning_content: 'hm' })),
      ...translator.push(chunk({ content: 'Hi' })),
      ...translator.push(chunk({ tool_calls: [{ index: 0, id: 'c1', function: { arguments: '{"a"' } }] })),
      ...translator.push(chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: ':1}' } }] })),
      ...translator.push(chunk({}, 'tool_calls')),
      ...translator.push(readChunk({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 3 } })),
      ...translator.finish(),
    ];
    expect(events.map((e) => [e.event, (e.data.delta as { type?: string } | undefined)?.type ?? (e.data.content_block as { type?: string } | undefined)?.type ?? e.data.index ?? ''])).toEqual([
      ['message_start', ''],
      ['ping', ''],
      ['content_block_start', 'thinking'],
      ['content_block_delta', 'thinking_delta'],
      ['content_block_stop', 0],
      ['content_block_start', 'text'],
      ['content_block_delta', 'text_delta'],
      ['content_block_stop', 1],
      ['content_block_start', 'tool_use'],
      ['content_block_delta', 'input_json_delta'],
      ['content_block_stop', 2],
      ['message_delta', ''],
      ['message_stop', ''],
    ]);
    expect(events[9]!.data).toEqual({ type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"a":1}' } });
    expect(events[11]!.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 9, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  });

  it('ends with an error event, and nothing after it, when the upstream fails mid-stream', () => {
    const translator = new AnthropicStreamTranslator({ id: 'msg_1', model: 'm', inputEstimate: 1, newToolId: ids });
    translator.start();
    translator.push(chunk({ content: 'a' }));
    expect(translator.push(readChunk({ error: { message: 'oom' } }))).toEqual([{ event: 'error', data: { type: 'error', error: { type: 'api_error', message: 'oom' } } }]);
    expect(translator.finish()).toEqual([]);
  });
});

describe('estimateInputTokens', () => {
  it('grows with the text and counts an image flat', () => {
    const one = estimateInputTokens({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(400) }] });
    const withImage = estimateInputTokens({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(400) }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(100_000) } }] }] });
    expect(one).toBe(104);
    expect(withImage).toBe(104 + 1600);
  });
});
