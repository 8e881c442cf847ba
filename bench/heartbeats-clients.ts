// A share of bench/heartbeats.ts's registrars as raw HTTP clients (no daemons), driven over IPC: `register` publishes
// one row per session through the replicas in turn, `stream` opens each session's task stream (held open, its bytes
// discarded), `beat` sends each session's heartbeat once per interval, spread evenly over it, each to the next replica
// (as a balancer would), and `stats` says what was sent and how it was answered.
import http from 'node:http';

interface Register {
  cmd: 'register';
  urls: string[];
  token: string;
  from: number;
  count: number;
  concurrency: number;
}
type Command = Register | { cmd: 'stream' } | { cmd: 'beat'; intervalMs: number } | { cmd: 'stats' } | { cmd: 'stop' };

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
let urls: string[] = [];
let token = '';
/** Session index → id, for the sessions registered here. */
const sessions = new Map<number, string>();
const streams: http.ClientRequest[] = [];
const stats = { registered: 0, registerFailed: 0, streamsOpen: 0, streamsFailed: 0, streamsClosed: 0, beats: 0, beatsOk: 0, beatsLost: 0, beatErrors: 0 };

function post(url: string, path: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (piece: string) => (text += piece));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function register(command: Register): Promise<void> {
  urls = command.urls;
  token = command.token;
  let next = 0;
  await Promise.all(
    Array.from({ length: command.concurrency }, async () => {
      while (next < command.count) {
        const index = command.from + next++;
        const body = { providers: [{ name: `hb-${index}`, type: 'openai', model: 'm', initialStatus: 'active' }] };
        try {
          const reply = await post(urls[index % urls.length]!, '/api/v1/llms/_provider-register', body);
          if (reply.status !== 201) throw new Error(`${reply.status} ${reply.body.slice(0, 200)}`);
          sessions.set(index, (JSON.parse(reply.body) as { providerSessionId: string }).providerSessionId);
          stats.registered++;
        } catch (error) {
          stats.registerFailed++;
          if (stats.registerFailed <= 3) process.stderr.write(`register hb-${index}: ${(error as Error).message}\n`);
        }
      }
    }),
  );
}

/** One long GET per session, on its own socket (a registrar holds its stream on a connection of its own). */
async function openStreams(): Promise<void> {
  const opening = [...sessions].map(
    ([index, sessionId]) =>
      new Promise<void>((resolve) => {
        const req = http.get(`${urls[index % urls.length]!}/api/v1/llms/_provider-stream`, { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'x-mcpctl-provider-session': sessionId } }, (res) => {
          if (res.statusCode === 200) stats.streamsOpen++;
          else stats.streamsFailed++;
          res.on('data', () => {});
          res.on('close', () => stats.streamsClosed++);
          resolve();
        });
        req.on('error', () => {
          stats.streamsFailed++;
          resolve();
        });
        streams.push(req);
      }),
  );
  await Promise.all(opening);
}

/** Every session beats once per interval, at offset k/n of it for the k-th session here; beat b of a session goes to replica k+b. */
function beat(intervalMs: number): void {
  const order = [...sessions];
  const started = performance.now();
  // The j-th heartbeat sent here is session j mod n's, due at j/n intervals: one counter, no scan of the sessions.
  let sent = 0;
  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    while ((sent / order.length) * intervalMs <= elapsed) {
      const [index, sessionId] = order[sent % order.length]!;
      const round = Math.floor(sent / order.length);
      sent++;
      stats.beats++;
      post(urls[(index + round) % urls.length]!, '/api/v1/llms/_provider-heartbeat', { providerSessionId: sessionId }).then(
        (reply) => (reply.status === 200 ? stats.beatsOk++ : stats.beatsLost++),
        () => stats.beatErrors++,
      );
    }
  }, 10);
  process.once('disconnect', () => clearInterval(timer));
}

process.on('message', (message: Command) => {
  switch (message.cmd) {
    case 'register':
      return void register(message).then(() => process.send?.({ registered: stats.registered, failed: stats.registerFailed }));
    case 'stream':
      return void openStreams().then(() => process.send?.({ open: stats.streamsOpen, failed: stats.streamsFailed }));
    case 'beat':
      beat(message.intervalMs);
      return void process.send?.({ beating: sessions.size });
    case 'stats':
      return void process.send?.({ stats });
    case 'stop':
      for (const req of streams) req.destroy();
      agent.destroy();
      process.exit(0);
  }
});
process.send?.({ ready: true });
