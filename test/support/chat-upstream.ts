// An OpenAI-compatible chat server on 127.0.0.1 that answers the way vLLM and llama-server do: text, tool calls
// (streamed as fragments by index: id and name first, then the arguments in pieces), a finish_reason, a usage chunk
// when `stream_options.include_usage` asks for it, upstream errors as OpenAI error bodies. A ChatCaller over it
// (the official `openai` SDK as the client) stands in for the hub's dispatcher in the front-door tests.
import { createServer, type Server } from 'node:http';
import OpenAI from 'openai';
import type { ChatCaller } from '../../src/hub/front/chat-caller.ts';

export const WEATHER_TOOL_ARGS = '{"city": "Paris", "unit": "celsius"}';

interface SeenMessage {
  role: string;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: string;
}

export interface ChatUpstream {
  baseUrl: string;
  /** Every body the server received, in order. */
  bodies: Array<Record<string, unknown>>;
  caller: ChatCaller;
  close(): Promise<void>;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part: { text?: string }) => part.text ?? '').join('');
  return '';
}

type Script =
  | { kind: 'text'; text: string; finish: 'stop' | 'length' }
  | { kind: 'tool'; name: string; args: string }
  | { kind: 'error'; status: number; message: string }
  | { kind: 'break'; text: string };

/** What a small model would say: it calls the weather tool when it has one and is asked, then reads its result. */
function scriptFor(body: { messages: SeenMessage[]; tools?: Array<{ function: { name: string } }>; max_tokens?: number }): Script {
  const last = body.messages.at(-1);
  if (last?.role === 'tool') {
    const caller = [...body.messages].reverse().find((message) => message.role === 'assistant') as { tool_calls?: Array<{ function: { name: string } }> } | undefined;
    const result = textOf(last.content);
    const text = caller?.tool_calls?.[0]?.function.name === 'get_weather' ? `It is ${result} in Paris.` : `The tool said: ${result.trim()}`;
    return { kind: 'text', text, finish: 'stop' };
  }
  const said = textOf(last?.content);
  // A scripted run of a real agent CLI asks for one of its own tools: `call <tool> <json arguments>`.
  const asked = /call (\S+) (\{.*\})/.exec(said);
  if (asked && body.tools?.some((tool) => tool.function.name === asked[1])) return { kind: 'tool', name: asked[1]!, args: asked[2]! };
  if (said.includes('fail-400')) return { kind: 'error', status: 400, message: "model 'm' does not support this: try without it" };
  if (said.includes('break-mid')) return { kind: 'break', text: 'I was saying' };
  const weather = body.tools?.find((tool) => tool.function.name === 'get_weather');
  if (weather && /weather/i.test(said)) return { kind: 'tool', name: 'get_weather', args: WEATHER_TOOL_ARGS };
  const text = `You said: ${said}`;
  if (body.max_tokens !== undefined && body.max_tokens < 5) return { kind: 'text', text: text.split(' ').slice(0, body.max_tokens).join(' '), finish: 'length' };
  return { kind: 'text', text, finish: 'stop' };
}

function usageFor(body: { messages: SeenMessage[] }, output: string): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const prompt_tokens = Math.ceil(JSON.stringify(body.messages).length / 4);
  const completion_tokens = Math.max(1, output.split(/\s+/).length);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

export async function startChatUpstream(): Promise<ChatUpstream> {
  const bodies: Array<Record<string, unknown>> = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (piece: Buffer) => (raw += piece.toString()));
    req.on('end', () => {
      if (req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const body = JSON.parse(raw);
      bodies.push(body);
      const script = scriptFor(body);
      if (script.kind === 'error') {
        res.writeHead(script.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: script.message, type: 'invalid_request_error', code: null, param: null } }));
        return;
      }
      const base = { id: 'chatcmpl-up1', created: 1_700_000_000, model: body.model };
      const output = script.kind === 'tool' ? script.args : script.text;
      const usage = usageFor(body, output);
      if (!body.stream) {
        const message =
          script.kind === 'tool'
            ? { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: script.name, arguments: script.args } }] }
            : { role: 'assistant', content: script.text };
        const finish = script.kind === 'tool' ? 'tool_calls' : script.kind === 'text' ? script.finish : 'stop';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: finish }], usage }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const send = (data: unknown): void => void res.write(`data: ${JSON.stringify(data)}\n\n`);
      const chunk = (delta: Record<string, unknown>, finish: string | null = null): void =>
        send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
      chunk({ role: 'assistant', content: '' });
      if (script.kind === 'tool') {
        chunk({ tool_calls: [{ index: 0, id: 'call_w1', type: 'function', function: { name: script.name, arguments: '' } }] });
        for (const piece of script.args.match(/.{1,7}/g) ?? []) chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] });
        chunk({}, 'tool_calls');
      } else {
        const words = script.text.split(/(?<= )/);
        for (const word of words) chunk({ content: word });
        if (script.kind === 'break') {
          send({ error: { message: 'the model server ran out of memory', type: 'server_error' } });
          res.end();
          return;
        }
        chunk({}, script.finish);
      }
      if (body.stream_options?.include_usage) send({ ...base, object: 'chat.completion.chunk', choices: [], usage });
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the chat upstream double has no port');
  const baseUrl = `http://127.0.0.1:${address.port}/v1`;
  const client = new OpenAI({ baseURL: baseUrl, apiKey: 'unused', maxRetries: 0 });

  const caller: ChatCaller = async ({ body, signal }) => {
    try {
      if (body.stream) {
        const stream = await client.chat.completions.create({ ...body, stream: true }, { signal });
        return { kind: 'stream', chunks: stream };
      }
      const completion = await client.chat.completions.create({ ...body, stream: false }, { signal });
      return { kind: 'json', status: 200, body: completion };
    } catch (error) {
      if (error instanceof OpenAI.APIError && error.status !== undefined) {
        return { kind: 'error', status: error.status, message: (error.error as { message?: string } | undefined)?.message ?? error.message };
      }
      throw error;
    }
  };

  return {
    baseUrl,
    bodies,
    caller,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
