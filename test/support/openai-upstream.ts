// An OpenAI-compatible upstream double on 127.0.0.1 whose answers a test writes whole: any JSON with any status, or
// a list of SSE `data` payloads (then `[DONE]`), the way OpenAI, vLLM and llama-server frame them. It records every
// call, so a test can check what reached the model and how many times.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamCall {
  path: string;
  body: Record<string, unknown>;
}

export type UpstreamAnswer = { status?: number; json: unknown } | { sse: unknown[] };

export interface OpenAiUpstream {
  /** The base an OpenAI client would be given: http://127.0.0.1:PORT/v1. */
  baseUrl: string;
  calls: UpstreamCall[];
  /** Mutable: how the next calls are answered. */
  answer: (call: UpstreamCall) => UpstreamAnswer;
  close(): Promise<void>;
}

/** A plain answer for each endpoint, in OpenAI's shapes, naming the upstream's own model id. */
export function defaultAnswer(call: UpstreamCall): UpstreamAnswer {
  const model = String(call.body.model);
  if (call.path === '/v1/embeddings') {
    const inputs = Array.isArray(call.body.input) ? call.body.input : [call.body.input];
    const vector = [0.25, -0.5, 1];
    const embedding = call.body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { json: { object: 'list', model, data: inputs.map((_, index) => ({ object: 'embedding', index, embedding })), usage: { prompt_tokens: 2, total_tokens: 2 } } };
  }
  if (call.path === '/v1/completions') {
    const base = { id: 'cmpl-1', object: 'text_completion', created: 1, model };
    if (call.body.stream === true) {
      return { sse: [{ ...base, choices: [{ index: 0, text: 'return ', finish_reason: null, logprobs: null }] }, { ...base, choices: [{ index: 0, text: 'a + b', finish_reason: 'stop', logprobs: null }] }] };
    }
    return { json: { ...base, choices: [{ index: 0, text: 'return a + b', finish_reason: 'stop', logprobs: null }], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } } };
  }
  const base = { id: 'chatcmpl-up', created: 1, model, system_fingerprint: 'fp_test' };
  if (call.body.stream === true) {
    return {
      sse: [
        { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hello' }, finish_reason: null }] },
        { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: ' there' }, finish_reason: 'stop' }] },
      ],
    };
  }
  return {
    json: {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    },
  };
}

export async function startOpenAiUpstream(): Promise<OpenAiUpstream> {
  const calls: UpstreamCall[] = [];
  const upstream = { calls, answer: defaultAnswer } as OpenAiUpstream;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [] }));
        return;
      }
      const call: UpstreamCall = { path: req.url ?? '', body: JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as Record<string, unknown> };
      calls.push(call);
      const answer = upstream.answer(call);
      if ('json' in answer) {
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.json));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const data of answer.sse) res.write(`data: ${JSON.stringify(data)}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return upstream;
}
