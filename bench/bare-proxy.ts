// The least a relay hop can do in Node: forward each request to `--target` and pipe the answer back, bytes as they
// come, no parsing; with `--window-ms N`, the answer's bytes are gathered and written at most once per N ms after
// the first write (what our relay's coalescing window does). A yardstick for bench/relay-floor.ts, not a product.
// `node --import tsx bench/bare-proxy.ts --target http://127.0.0.1:PORT [--window-ms N]`; prints {"url": …}.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { target: { type: 'string' }, 'window-ms': { type: 'string', default: '0' } } });
if (!values.target) throw new Error('--target URL is required');
const target = new URL(values.target);
const windowMs = Number(values['window-ms']);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** Writes what came within one window in one write; the first bytes go at once. */
function windowed(res: http.ServerResponse): { write(bytes: Buffer): void; end(): void } {
  let waiting: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = Number.NEGATIVE_INFINITY;
  const flush = () => {
    timer = undefined;
    if (waiting.length === 0) return;
    lastWrite = performance.now();
    res.write(waiting.length === 1 ? waiting[0] : Buffer.concat(waiting));
    waiting = [];
  };
  return {
    write(bytes) {
      waiting.push(bytes);
      if (timer) return;
      const wait = lastWrite + windowMs - performance.now();
      if (wait <= 0) flush();
      else timer = setTimeout(flush, wait);
    },
    end() {
      clearTimeout(timer);
      flush();
      res.end();
    },
  };
}

const server = http.createServer((req, res) => {
  const upstream = http.request(
    { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host }, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (windowMs <= 0) {
        answer.pipe(res);
        return;
      }
      const out = windowed(res);
      answer.on('data', (bytes: Buffer) => out.write(bytes));
      answer.on('end', () => out.end());
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
