// The least a registrar can do for a plain call, to weigh ours and the seed's against: register one row (`openai.v1`),
// hold the task stream, and for each frame send the caller's body to the upstream and post its answer back as the
// bytes it came in — node:http with keep-alive, no validation, no machines, no log, no state file, no retries. Not a
// product: it ignores everything but the happy path. bench/seed.ts runs it beside ours and the seed's.
// env: HUB_URL, HUB_TOKEN, UPSTREAM (OpenAI base URL without /v1), NAME, MODEL.
import http from 'node:http';
import { request } from './support/caller.ts';

const hubUrl = process.env.HUB_URL ?? 'http://127.0.0.1:4848';
const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:9901';
const name = process.env.NAME ?? 'bare-llm';
const model = process.env.MODEL ?? 'bench-model';
const auth = `Bearer ${process.env.HUB_TOKEN ?? 'dev'}`;
const SESSION_HEADER = 'x-mcpctl-provider-session';

/** A POST on keep-alive sockets, as many at once as calls are in flight. */
const post = (url: string, headers: Record<string, string>, body: string) => request(url, { method: 'POST', headers, body, sockets: 256 });

const registered = await post(`${hubUrl}/api/v1/llms/_provider-register`, { authorization: auth, 'content-type': 'application/json' }, JSON.stringify({
  providers: [{ name, type: 'openai', model, visibility: 'public', initialStatus: 'active' }],
  capabilities: ['openai.v1'],
}));
if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${registered.body}`);
const sessionId = (JSON.parse(registered.body) as { providerSessionId: string }).providerSessionId;
const hubHeaders = { authorization: auth, 'content-type': 'application/json', [SESSION_HEADER]: sessionId };
setInterval(() => void post(`${hubUrl}/api/v1/llms/_provider-heartbeat`, hubHeaders, JSON.stringify({ providerSessionId: sessionId })).catch(() => undefined), 10_000);

async function run(frame: { taskId: string; kind: string; body?: Record<string, unknown> }): Promise<void> {
  const result = (text: string) => post(`${hubUrl}/api/v1/llms/_provider-task/${encodeURIComponent(frame.taskId)}/result`, hubHeaders, text);
  if (frame.kind !== 'openai' || !frame.body) return void (await result(JSON.stringify({ error: `the bare registrar answers openai frames only, not ${frame.kind}` })));
  const answer = await post(`${upstream}/v1/chat/completions`, { 'content-type': 'application/json' }, JSON.stringify({ ...frame.body, model }));
  await result(answer.status === 200 ? `{"status":200,"body":${answer.body}}` : JSON.stringify({ error: `upstream answered ${answer.status}`, status: answer.status }));
}

http.get(`${hubUrl}/api/v1/llms/_provider-stream`, { headers: { ...hubHeaders, accept: 'text/event-stream' }, agent: false }, (stream) => {
  if (stream.statusCode !== 200) throw new Error(`task stream answered ${stream.statusCode}`);
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (piece: string) => {
    buffer += piece;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
      if (data !== '') void run(JSON.parse(data) as { taskId: string; kind: string }).catch((error: unknown) => process.stderr.write(`task failed: ${String(error)}\n`));
    }
  });
  stream.on('end', () => process.exit(1));
});
