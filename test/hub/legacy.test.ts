// What a base-wire registrar can carry of a chat call (src/hub/front/legacy.ts), field by field.
import { describe, expect, it } from 'vitest';
import { legacyCall } from '../../src/hub/front/legacy.ts';

const hello = [{ role: 'user', content: 'hi' }];

describe('legacyCall', () => {
  it('carries text messages, temperature and max_tokens, and what does not change the answer', () => {
    const call = legacyCall({
      model: 'm',
      messages: [{ role: 'developer', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }, { role: 'assistant', content: null, tool_calls: [], refusal: null }],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      max_completion_tokens: 9,
      user: 'u-1',
      n: 1,
      logprobs: false,
      top_p: 1,
      frequency_penalty: 0,
      presence_penalty: 0,
      stop: [],
      tools: [],
      tool_choice: 'none',
      response_format: { type: 'text' },
      seed: null,
    });
    expect(call).toMatchObject({
      ok: true,
      request: { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: '' }], temperature: 0.2, max_tokens: 9 },
    });
  });

  const refused: [string, Record<string, unknown>, string][] = [
    ['tools', { tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
    ['a forced tool', { tool_choice: 'required' }, 'tool_choice'],
    ['JSON mode', { response_format: { type: 'json_object' } }, 'response_format'],
    ['n > 1', { n: 3 }, 'n'],
    ['logprobs', { logprobs: true }, 'logprobs'],
    ['top_logprobs', { top_logprobs: 2 }, 'top_logprobs'],
    ['stop', { stop: 'END' }, 'stop'],
    ['seed', { seed: 0 }, 'seed'],
    ['top_p', { top_p: 0.5 }, 'top_p'],
    ['a penalty', { presence_penalty: 0.5 }, 'presence_penalty'],
    ['logit_bias', { logit_bias: { '50256': -100 } }, 'logit_bias'],
    ['reasoning_effort', { reasoning_effort: 'low' }, 'reasoning_effort'],
    ['a server-specific field', { chat_template_kwargs: { enable_thinking: false } }, 'chat_template_kwargs'],
    ['an image part', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] }, 'messages[0].content[0]'],
    ['a tool message', { messages: [...hello, { role: 'tool', tool_call_id: 'c', content: 'x' }] }, 'messages[1].role'],
    ['assistant tool calls', { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c' }] }] }, 'messages[0].tool_calls'],
    ['a message name', { messages: [{ role: 'user', content: 'x', name: 'bob' }] }, 'messages[0].name'],
  ];
  for (const [what, extra, param] of refused) {
    it(`refuses ${what}, naming ${param}`, () => {
      const call = legacyCall({ model: 'm', messages: hello, ...extra });
      expect(call).toMatchObject({ ok: false, param });
      if (call.ok) throw new Error('unreachable');
      expect(call.message).toContain('its registrar speaks the base wire only');
    });
  }
});
