// What today's OpenAI clients send reaches the registrar as the plain messages of the wire.
import { describe, expect, it } from 'vitest';
import { ALICE, errorMessage, hubHarness, provider } from './helpers.ts';

const harness = hubHarness();
const CHAT = '/v1/chat/completions';

describe('caller message shapes', () => {
  it('flattens text content parts, maps `developer` to system and null content to empty, and honours max_completion_tokens', async () => {
    const hub = await harness.start();
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const stream = await registrar.stream();
    void harness.client(hub, ALICE).post(CHAT, {
      model: 'llama',
      max_completion_tokens: 64,
      messages: [
        { role: 'developer', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'hello ' }, { type: 'text', text: 'there' }] },
        { role: 'assistant', content: null, tool_calls: [] },
      ],
    });
    const frame = await stream.nextTask();
    expect(frame).toMatchObject({
      kind: 'infer',
      request: {
        max_tokens: 64,
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello there' },
          { role: 'assistant', content: '' },
        ],
      },
    });
  });

  it('refuses an image part for a base-wire registrar with a 400 that says only text is supported', async () => {
    const hub = await harness.start();
    await harness.registrar(hub).register([provider('llama')]);
    const res = await harness.client(hub, ALICE).post(CHAT, {
      model: 'llama',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }],
    });
    expect(res.status).toBe(400);
    expect(await errorMessage(res)).toMatch(/only text parts/);
  });
});
