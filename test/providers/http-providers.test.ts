// What every HTTP upstream kind must do the same way, checked against each kind's double speaking its real wire.
import { setTimeout as sleep } from 'node:timers/promises';
import * as v from 'valibot';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import type { InferRequest } from '../../src/protocol/index.ts';
import { createProvider, type LlmProvider, type ProviderOptions, type StreamPiece, UpstreamError } from '../../src/providers/index.ts';
import { never } from '../support/pieces.ts';
import {
  echoReply,
  type ModelScript,
  type ModelServer,
  replyTokens,
  startAnthropicServer,
  startOllamaServer,
  startOpenAiServer,
  TEST_MODEL,
} from '../support/model-server.ts';

const kinds = [
  { type: 'openai', start: startOpenAiServer },
  { type: 'ollama', start: startOllamaServer },
  { type: 'anthropic', start: startAnthropicServer },
] as const;

const request: InferRequest = { messages: [{ role: 'user', content: 'tell me about seven small foxes in the snow' }] };
const reply = echoReply(request.messages);
const tokens = replyTokens(reply);
const usage = {
  prompt_tokens: replyTokens(request.messages[0].content).length,
  completion_tokens: tokens.length,
  total_tokens: replyTokens(request.messages[0].content).length + tokens.length,
};

async function collect(stream: AsyncIterable<StreamPiece>): Promise<{ text: string; pieces: StreamPiece[] }> {
  const pieces: StreamPiece[] = [];
  for await (const piece of stream) pieces.push(piece);
  return { text: pieces.map((piece) => piece.content ?? '').join(''), pieces };
}

/** Reads a stream until it fails; returns the text that came before and the error (the test fails if none). */
async function collectUntilFailure(stream: AsyncIterable<StreamPiece>): Promise<{ text: string; error: unknown }> {
  let text = '';
  try {
    for await (const piece of stream) text += piece.content ?? '';
  } catch (error) {
    return { text, error };
  }
  throw new Error(`the stream ended without an error after ${JSON.stringify(text)}`);
}

describe.each(kinds)('$type provider against its double', ({ type, start }) => {
  let server: ModelServer;

  const providerFor = (options?: ProviderOptions): LlmProvider =>
    createProvider(
      v.parse(ProviderConfig, { name: `local-${type}`, type, baseUrl: server.baseUrl, model: TEST_MODEL, apiKey: 'sk-test-key' }),
      options,
    );
  const script = (next: ModelScript): void => {
    server.script = next;
  };

  beforeEach(async () => {
    server = await start();
  });
  afterEach(async () => {
    await server.close();
  });

  it('answers a plain completion with the model text, finish reason and usage', async () => {
    const completion = await providerFor().complete(request, never());

    expect(completion).toEqual({ content: reply, finishReason: 'stop', usage });
    expect(server.requests).toHaveLength(1);
  });

  it('streams the reply one piece per token and ends with one piece carrying finish reason and usage', async () => {
    const { text, pieces } = await collect(providerFor().stream(request, never()));

    expect(text).toBe(reply);
    const last = pieces[pieces.length - 1];
    expect(last).toMatchObject({ finishReason: 'stop', usage });
    const contentPieces = pieces.filter((piece) => piece.content !== undefined);
    expect(contentPieces.map((piece) => piece.content)).toEqual(tokens);
    expect(pieces.slice(0, -1).every((piece) => piece.finishReason === undefined && piece.usage === undefined)).toBe(true);
  });

  it('hands out the first token while the model is still generating', async () => {
    script({ tokenDelayMs: 20, reply: () => 'one two three four five six' });
    const started = performance.now();
    let firstAt = 0;
    let inFlightAtFirst = -1;
    let text = '';
    for await (const piece of providerFor().stream(request, never())) {
      if (piece.content !== undefined && firstAt === 0) {
        firstAt = performance.now() - started;
        inFlightAtFirst = server.inFlight;
      }
      text += piece.content ?? '';
    }
    const doneAt = performance.now() - started;

    expect(text).toBe('one two three four five six');
    expect(inFlightAtFirst).toBe(1);
    // Five more tokens, 20 ms apart, came after the first one.
    expect(doneAt - firstAt).toBeGreaterThanOrEqual(80);
  });

  it('reports a reply cut by max_tokens with finish reason "length"', async () => {
    const capped = { ...request, max_tokens: 3 };
    const provider = providerFor();

    const completion = await provider.complete(capped, never());
    const { text, pieces } = await collect(provider.stream(capped, never()));

    expect(completion.content).toBe(tokens.slice(0, 3).join(''));
    expect(completion.finishReason).toBe('length');
    expect(completion.usage.completion_tokens).toBe(3);
    expect(text).toBe(tokens.slice(0, 3).join(''));
    expect(pieces[pieces.length - 1].finishReason).toBe('length');
  });

  it('fails with a protocol error, not a short answer, when the upstream reports an error mid-stream', async () => {
    script({ errorMidStreamAfter: 2 });

    const { text, error } = await collectUntilFailure(providerFor().stream(request, never()));

    expect(text).toBe(tokens.slice(0, 2).join(''));
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'protocol', message: expect.stringContaining('scripted failure mid-stream') });
  });

  it('fails as unreachable when the connection drops mid-stream, the URL in the detail for the log, not in the message', async () => {
    script({ closeMidStreamAfter: 2 });

    const { text, error } = await collectUntilFailure(providerFor().stream(request, never()));

    expect(text).toBe(tokens.slice(0, 2).join(''));
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'unreachable', detail: expect.stringContaining(server.url) });
    expect((error as Error).message).not.toContain(`${server.port}`);
  });

  it('fails as unreachable when the connection drops before a plain answer', async () => {
    script({ closeMidStreamAfter: 1 });

    await expect(providerFor().complete(request, never())).rejects.toMatchObject({ kind: 'unreachable' });
  });

  it('turns an error status into an http error with the status and the upstream message', async () => {
    script({ failWith: 500 });
    const provider = providerFor();

    const plain = await provider.complete(request, never()).catch((error: unknown) => error);
    const streamed = await collectUntilFailure(provider.stream(request, never()));

    for (const error of [plain, streamed.error]) {
      expect(error).toBeInstanceOf(UpstreamError);
      expect(error).toMatchObject({ kind: 'http', status: 500, message: 'upstream answered 500: scripted failure' });
    }
  });

  it('reports a stopped server as unreachable (the URL in the detail only), and works again once it is back', async () => {
    const provider = providerFor();
    await server.stop();

    const error = await provider.complete(request, never()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'unreachable', message: 'cannot reach the model server (ECONNREFUSED)', detail: expect.stringContaining(`127.0.0.1:${server.port}`) });
    expect(`${(error as Error).message} ${(error as UpstreamError).detail}`).not.toContain('sk-test-key');

    await server.restart();
    await expect(provider.complete(request, never())).resolves.toMatchObject({ content: reply });
  });

  it('aborts a hanging plain call promptly with the caller reason, and the server sees the client leave', async () => {
    script({ hang: true });
    const controller = new AbortController();
    const pending = providerFor().complete(request, controller.signal);
    pending.catch(() => {});
    await vi.waitFor(() => expect(server.inFlight).toBe(1));

    const reason = new Error('the caller went away');
    const abortedAt = performance.now();
    controller.abort(reason);

    await expect(pending).rejects.toBe(reason);
    expect(performance.now() - abortedAt).toBeLessThan(500);
    await vi.waitFor(() => expect(server.aborted).toBe(1));
  });

  it('aborts a hanging stream promptly with the caller reason, and the server sees the client leave', async () => {
    script({ hang: true });
    const controller = new AbortController();
    const next = providerFor().stream(request, controller.signal)[Symbol.asyncIterator]().next();
    next.catch(() => {});
    await vi.waitFor(() => expect(server.inFlight).toBe(1));

    const reason = new Error('the caller went away');
    controller.abort(reason);

    await expect(next).rejects.toBe(reason);
    await vi.waitFor(() => expect(server.aborted).toBe(1));
  });

  it('stops the upstream when the caller aborts mid-stream', async () => {
    script({ tokenDelayMs: 20 });
    const controller = new AbortController();
    const reason = new Error('cancelled by the hub');
    let text = '';

    const error = await (async () => {
      for await (const piece of providerFor().stream(request, controller.signal)) {
        text += piece.content ?? '';
        controller.abort(reason);
      }
    })().catch((caught: unknown) => caught);

    expect(error).toBe(reason);
    expect(text).toBe(tokens[0]);
    await vi.waitFor(() => expect(server.aborted).toBe(1));
    expect(server.inFlight).toBe(0);
  });

  it('stops the upstream when the consumer leaves the stream early', async () => {
    script({ tokenDelayMs: 20 });

    for await (const piece of providerFor().stream(request, never())) {
      if (piece.content !== undefined) break;
    }

    await vi.waitFor(() => expect(server.aborted).toBe(1));
  });

  it('fails a hanging plain call as unreachable after upstreamIdleMs of silence', async () => {
    script({ hang: true });

    const error = await providerFor({ upstreamIdleMs: 50 })
      .complete(request, never())
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ kind: 'unreachable', message: 'upstream went silent for 50 ms' });
    await vi.waitFor(() => expect(server.aborted).toBe(1));
  });

  it('fails a stream as unreachable when the upstream goes silent after answering', async () => {
    script({ tokenDelayMs: 1_000 });
    const started = performance.now();

    const { text, error } = await collectUntilFailure(providerFor({ upstreamIdleMs: 60 }).stream(request, never()));

    expect(text).toBe('');
    expect(error).toMatchObject({ kind: 'unreachable', message: 'upstream went silent for 60 ms' });
    expect(performance.now() - started).toBeLessThan(800);
    await vi.waitFor(() => expect(server.aborted).toBe(1));
  });

  it('does not count a slow consumer as upstream silence', async () => {
    script({ tokenDelayMs: 5 });
    let text = '';
    let held = false;

    for await (const piece of providerFor({ upstreamIdleMs: 150 }).stream(request, never())) {
      text += piece.content ?? '';
      if (!held) {
        held = true;
        await sleep(400);
      }
    }

    expect(text).toBe(reply);
    expect(server.aborted).toBe(0);
  });

  it('throws the reason of an already aborted signal without calling the upstream', async () => {
    const reason = new Error('too late');
    const signal = AbortSignal.abort(reason);
    const provider = providerFor();

    await expect(provider.complete(request, signal)).rejects.toBe(reason);
    await expect(provider.stream(request, signal)[Symbol.asyncIterator]().next()).rejects.toBe(reason);
    expect(server.requests).toHaveLength(0);
  });

  it('reuses one keep-alive connection for calls in a row', async () => {
    const provider = providerFor();

    // The end of each body arrives after its last frame: let it come in (and the socket go back to the pool) first.
    const bodyEnded = async (): Promise<void> => {
      await vi.waitFor(() => expect(server.inFlight).toBe(0));
      await sleep(20);
    };
    await collect(provider.stream(request, never()));
    await bodyEnded();
    await collect(provider.stream(request, never()));
    await bodyEnded();
    await provider.complete(request, never());

    expect(server.requests).toHaveLength(3);
    expect(server.connections).toBe(1);
  });

  it('is available when the server answers its readiness check, and not while loading or down', async () => {
    const provider = providerFor();
    expect(await provider.isAvailable()).toBe(true);

    script({ notReady: true });
    expect(await provider.isAvailable()).toBe(false);

    script({});
    await server.stop();
    expect(await provider.isAvailable()).toBe(false);
  });

  it('answers "not available" at once for an aborted readiness check', async () => {
    expect(await providerFor().isAvailable(AbortSignal.abort())).toBe(false);
  });
});
