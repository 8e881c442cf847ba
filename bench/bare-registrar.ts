// The least a registrar can do for a plain call, to weigh ours and the seed's against: register one row (`openai.v1`),
// hold the task stream, and for each frame send the caller's body to the upstream and post its answer back as the
// bytes it came in — node:http with keep-alive, no validation, no machines, no log, no state file, no retries. Not a
// product: it ignores everything but the happy path. bench/seed.ts runs it beside ours and the seed's.
// env: HUB_URL, HUB_TOKEN, UPSTREAM (OpenAI base URL without /v1), NAME, MODEL.
import http from 'node:http';

const hub = new URL(process.env.HUB_URL ?? 'http://127.0.0.1:4848');
const upstream = new URL(process.env.UPSTREAM ?? 'http://127.0.0.1:9901');
const name = process.env.NAME ?? 'bare-llm';
const model = process.env.MODEL ?? 'bench-model';
const auth = `Bearer ${process.env.HUB_TOKEN ?? 'dev'}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const SESSION_HEADER = 'x-mcpctl-provider-session';

function call(base: URL, method: string, path: string, headers: http.OutgoingHttpHeaders, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: base.hostname, port: base.port, method, path, headers, agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (piece: string) => (text += piece));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

const registered = await call(hub, 'POST', '/api/v1/llms/_provider-register', { authorization: auth, 'content-type': 'application/json' }, JSON.stringify({
  providers: [{ name, type: 'openai', model, visibility: 'public', initialStatus: 'active' }],
  capabilities: ['openai.v1'],
}));
if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${registered.text}`);
const sessionId = (JSON.parse(registered.text) as { providerSessionId: string }).providerSessionId;
const hubHeaders = { authorization: auth, 'content-type': 'application/json', [SESSION_HEADER]: sessionId };
setInterval(() => void call(hub, 'POST', '/api/v1/llms/_provider-heartbeat', hubHeaders, JSON.stringify({ providerSessionId: sessionId })).catch(() => undefined), 10_000);

async function run(frame: { taskId: string; kind: string; body?: Record<string, unknown> }): Promise<void> {
  const result = (text: string) => call(hub, 'POST', `/api/v1/llms/_provider-task/${encodeURIComponent(frame.taskId)}/result`, hubHeaders, text);
  if (frame.kind !== 'openai' || !frame.body) return void (await result(JSON.stringify({ error: `the bare registrar answers openai frames only, not ${frame.kind}` })));
  const answer = await call(upstream, 'POST', '/v1/chat/completions', { 'content-type': 'application/json' }, JSON.stringify({ ...frame.body, model }));
  await result(answer.status === 200 ? `{"status":200,"body":${answer.text}}` : JSON.stringify({ error: `upstream answered ${answer.status}`, status: answer.status }));
}

http.get({ host: hub.hostname, port: hub.port, path: '/api/v1/llms/_provider-stream', headers: { ...hubHeaders, accept: 'text/event-stream' }, agent: false }, (stream) => {
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
