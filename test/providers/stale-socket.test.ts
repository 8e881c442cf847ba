// A model server that closes a kept-alive connection just as the registrar reuses it (its keep-alive timeout ran out
// between two calls): the call goes again on a new connection instead of failing with ECONNRESET.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as v from 'valibot';
import { afterEach, expect, it } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import { createProvider } from '../../src/providers/index.ts';
import { never } from '../support/pieces.ts';

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 0,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

let server: http.Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
});

/** Answers every request, except the `resetAt`th, whose connection it resets before answering. */
async function closingServer(resetAt: number) {
  const seen = { requests: 0, connections: new Set<Socket>() };
  server = http.createServer((request, response) => {
    const index = ++seen.requests;
    seen.connections.add(request.socket);
    request.resume();
    request.on('end', () => {
      if (index === resetAt) request.socket.resetAndDestroy();
      else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen };
}

it('sends a call again on a new connection when the model server resets the kept-alive one it was sent on', async () => {
  const { baseUrl, seen } = await closingServer(2);
  const provider = createProvider(v.parse(ProviderConfig, { name: 'p', type: 'openai', baseUrl, model: 'm' }));
  const request = { messages: [{ role: 'user' as const, content: 'hi' }] };
  await expect(provider.complete(request, never())).resolves.toMatchObject({ content: 'hello' });
  // The second call goes on the first call's connection, which the server resets: it is sent again on a new one.
  await expect(provider.complete(request, never())).resolves.toMatchObject({ content: 'hello' });
  expect(seen.requests).toBe(3);
  expect(seen.connections.size).toBe(2);
});

it('still fails a call whose new connection is reset: only a reused one is tried again', async () => {
  const { baseUrl, seen } = await closingServer(1);
  const provider = createProvider(v.parse(ProviderConfig, { name: 'p', type: 'openai', baseUrl, model: 'm' }));
  const error = await provider.complete({ messages: [{ role: 'user', content: 'hi' }] }, never()).catch((caught: unknown) => caught);
  expect(error).toMatchObject({ kind: 'unreachable', message: 'cannot reach the model server (ECONNRESET)' });
  expect(seen.requests).toBe(1);
});
