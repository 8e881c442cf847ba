// A proxy between the registrar and a real hub that records what the hub took: every result POST with the status
// the hub answered, and every line of a streamed upload (`result.stream`) it passed on. It lets fault tests check the
// invariant on the wire while the real hub relays (and restarts). While the hub is down, the proxy cuts each
// connection it cannot forward, as a dead hub's host would; it can also break an upload mid-way, or hide the
// capability so the registrar speaks the base wire (a chunk POST each).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TaskResult } from '../../src/protocol/index.ts';

export interface ProxiedResult {
  taskId: string;
  body: TaskResult;
  /** The hub's answer; undefined when it could not be reached. */
  status?: number;
}

export interface RecordingProxy {
  url: string;
  /** Result bodies the hub took (answered 200), per task id, in arrival order. */
  results: Map<string, TaskResult[]>;
  /** Every result POST, whatever the hub answered. */
  posts: ProxiedResult[];
  /** Task ids the hub answered 404 for. */
  gone(): Set<string>;
  /** When it says true for a result POST, the hub gets it but its answer is lost: the connection is cut instead. */
  loseAnswer?: (post: ProxiedResult) => boolean;
  /**
   * When it says true for a line of an upload, that line and the rest are not passed on: the registrar's connection
   * is cut and the hub sees the upload end there (what it got before, it took).
   */
  breakUpload?: (line: ProxiedResult, index: number) => boolean;
  /** Uploads seen: their task, whether the proxy broke them, the hub's answer. */
  uploads: { taskId: string; broken: boolean; status?: number }[];
  /** Register requests go without `capabilities`: the hub answers as a base hub. */
  baseWire: boolean;
  close(): Promise<void>;
}

const RESULT_PATH = /^\/api\/v1\/llms\/_provider-task\/([^/]+)\/result$/;
const UPLOAD_PATH = /^\/api\/v1\/llms\/_provider-task\/([^/]+)\/result-stream$/;
const REGISTER_PATH = '/api/v1/llms/_provider-register';

export async function startRecordingProxy(targetUrl: string): Promise<RecordingProxy> {
  const target = new URL(targetUrl);
  const results = new Map<string, TaskResult[]>();
  const posts: ProxiedResult[] = [];

  const goneIds = new Set<string>();
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, headers: http.IncomingHttpHeaders, onStatus: (status?: number) => void) =>
    http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false }, (answer) => {
      onStatus(answer.statusCode);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });

  /** An upload passes line by line, each recorded as the hub gets it, until `breakUpload` says to cut it. */
  const relayUpload = (req: http.IncomingMessage, res: http.ServerResponse, taskId: string) => {
    const upload: RecordingProxy['uploads'][number] = { taskId, broken: false };
    proxy.uploads.push(upload);
    const upstream = forward(req, res, req.headers, (status) => {
      upload.status = status;
      if (status === 404) goneIds.add(taskId);
    });
    upstream.on('error', () => res.socket?.destroy());
    let buffer = '';
    let index = 0;
    req.setEncoding('utf8');
    req.on('data', (text: string) => {
      if (upload.broken) return;
      buffer += text;
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end + 1);
        buffer = buffer.slice(end + 1);
        const result = { taskId, body: JSON.parse(line) as TaskResult };
        if (proxy.breakUpload?.(result, index++)) {
          upload.broken = true;
          upstream.end();
          req.socket.destroy();
          return;
        }
        results.set(taskId, [...(results.get(taskId) ?? []), result.body]);
        upstream.write(line);
      }
    });
    req.on('end', () => upstream.end(buffer));
  };

  const server = http.createServer((req, res) => {
    const uploadOf = req.method === 'POST' ? UPLOAD_PATH.exec(req.url ?? '') : null;
    if (uploadOf) return relayUpload(req, res, decodeURIComponent(uploadOf[1]));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      let headers = req.headers;
      if (proxy.baseWire && req.url === REGISTER_PATH) {
        const { capabilities: _, ...rest } = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        body = Buffer.from(JSON.stringify(rest));
        headers = { ...headers, 'content-length': String(body.length) };
      }
      const resultOf = RESULT_PATH.exec(req.url ?? '');
      const post: ProxiedResult | undefined =
        resultOf && req.method === 'POST' ? { taskId: decodeURIComponent(resultOf[1]), body: JSON.parse(body.toString('utf8')) as TaskResult } : undefined;
      if (post) posts.push(post);
      const asked = req.method === 'GET' ? UPLOAD_PATH.exec(req.url ?? '') : null;
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false },
        (answer) => {
          // The hub no longer knows the task an upload asks to resume.
          if (asked && answer.statusCode === 404) goneIds.add(decodeURIComponent(asked[1]));
          if (post) {
            post.status = answer.statusCode;
            if (answer.statusCode === 200) results.set(post.taskId, [...(results.get(post.taskId) ?? []), post.body]);
            if (proxy.loseAnswer?.(post)) {
              answer.resume();
              res.socket?.destroy();
              return;
            }
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('error', () => res.destroy());
        },
      );
      upstream.on('error', () => res.socket?.destroy());
      res.on('close', () => upstream.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: RecordingProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    results,
    posts,
    uploads: [],
    baseWire: false,
    gone: () => new Set([...posts.filter((post) => post.status === 404).map((post) => post.taskId), ...goneIds]),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return proxy;
}
