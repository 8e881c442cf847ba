// The built-in demo model: a deterministic, friendly reply, streamed word by word at a steady pace.
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import type { InferRequest } from '../../src/protocol/index.ts';
import { demoTokens } from '../../src/providers/demo.ts';
import { createProvider, DEFAULT_DEMO_TOKEN_DELAY_MS, demoReply, type StreamPiece } from '../../src/providers/index.ts';
import { never } from '../support/pieces.ts';

const request: InferRequest = {
  messages: [
    { role: 'system', content: 'Be nice.' },
    { role: 'user', content: 'first question' },
    { role: 'assistant', content: 'first answer' },
    { role: 'user', content: '  how   are you today? ' },
  ],
};
const expectedReply = 'Hello from the llm-registrar demo model. You said: "how are you today?".';

function demo(tokenDelayMs?: number) {
  return createProvider(v.parse(ProviderConfig, { name: 'demo', type: 'demo', model: 'demo', tokenDelayMs }));
}

async function collect(stream: AsyncIterable<StreamPiece>): Promise<{ pieces: StreamPiece[]; at: number[] }> {
  const pieces: StreamPiece[] = [];
  const at: number[] = [];
  const started = performance.now();
  for await (const piece of stream) {
    pieces.push(piece);
    at.push(performance.now() - started);
  }
  return { pieces, at };
}

describe('demo provider', () => {
  it('replies with a fixed, friendly function of the last user message', async () => {
    const provider = demo(0);

    const first = await provider.complete(request, never());
    const second = await provider.complete(request, never());

    expect(first.content).toBe(expectedReply);
    expect(demoReply(request.messages)).toBe(expectedReply);
    expect(second).toEqual(first);
    expect(first.finishReason).toBe('stop');
  });

  it('invites a message when there is no user message to echo', async () => {
    const { content } = await demo(0).complete({ messages: [{ role: 'system', content: 'Be nice.' }] }, never());

    expect(content).toBe('Hello from the llm-registrar demo model. Send me a message and I will echo it back.');
  });

  it('quotes at most 200 characters of a long message', () => {
    const reply = demoReply([{ role: 'user', content: 'a'.repeat(500) }]);

    expect(reply).toBe(`Hello from the llm-registrar demo model. You said: "${'a'.repeat(200)}…".`);
  });

  it('streams the same reply word by word, the last piece carrying finish reason and usage in tokens', async () => {
    const { pieces } = await collect(demo(0).stream(request, never()));
    const words = demoTokens(expectedReply);
    const promptTokens = request.messages.reduce((sum, message) => sum + demoTokens(message.content).length, 0);

    expect(pieces.map((piece) => piece.content)).toEqual(words);
    expect(pieces.slice(0, -1).every((piece) => piece.finishReason === undefined && piece.usage === undefined)).toBe(true);
    expect(pieces[pieces.length - 1]).toMatchObject({
      finishReason: 'stop',
      usage: { prompt_tokens: promptTokens, completion_tokens: words.length, total_tokens: promptTokens + words.length },
    });
    expect(promptTokens).toBe(10);
  });

  it('stops at max_tokens with finish reason "length"', async () => {
    const capped = { ...request, max_tokens: 4 };

    const completion = await demo(0).complete(capped, never());
    const { pieces } = await collect(demo(0).stream(capped, never()));

    expect(completion.content).toBe('Hello from the llm-registrar');
    expect(completion).toMatchObject({ finishReason: 'length', usage: { completion_tokens: 4 } });
    expect(pieces).toHaveLength(4);
    expect(pieces[3]).toMatchObject({ content: ' llm-registrar', finishReason: 'length' });
  });

  it('sends one token every tokenDelayMs', async () => {
    const { pieces, at } = await collect(demo(20).stream(request, never()));
    const gaps = at.slice(1).map((time, i) => time - at[i]);

    expect(pieces.length).toBeGreaterThan(8);
    expect(at[0]).toBeGreaterThanOrEqual(15);
    // Timers never fire early; a busy machine may fire them late, so only the floor and the total are strict.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(15);
    expect(at[at.length - 1]).toBeGreaterThanOrEqual(20 * pieces.length - 5);
  });

  it('takes as long for a plain answer as for the stream of it', async () => {
    const started = performance.now();
    const { content } = await demo(10).complete(request, never());

    expect(performance.now() - started).toBeGreaterThanOrEqual(10 * demoTokens(content).length - 5);
  });

  it('paces at 15 ms a token by default', () => {
    expect(DEFAULT_DEMO_TOKEN_DELAY_MS).toBe(15);
  });

  it('yields to the event loop between tokens even with no delay', async () => {
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);

    const { pieces } = await collect(demo(0).stream(request, never()));
    spinning = false;

    expect(turns).toBeGreaterThanOrEqual(pieces.length - 1);
  });

  it('stops a stream at once when aborted, throwing the abort reason', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    const iterator = demo(1_000).stream(request, controller.signal)[Symbol.asyncIterator]();
    const next = iterator.next();
    const started = performance.now();
    setTimeout(() => controller.abort(reason), 10);

    await expect(next).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('stops a plain answer at once when aborted, throwing the abort reason', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    const pending = demo(1_000).complete(request, controller.signal);
    const started = performance.now();
    setTimeout(() => controller.abort(reason), 10);

    await expect(pending).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('is always available', async () => {
    expect(await demo().isAvailable()).toBe(true);
  });
});
