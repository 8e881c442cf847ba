// A proxy between the registrar and a real hub that records what the hub took: every result POST with the status
// the hub answered. It lets fault tests check the invariant on the wire while the real hub relays (and restarts).
// While the hub is down, the proxy cuts each connection it cannot forward, as a dead hub's host would.
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
  close(): Promise<void>;
}

const RESULT_PATH = /^\/api\/v1\/llms\/_provider-task\/([^/]+)\/result$/;

export async function startRecordingProxy(targetUrl: string): Promise<RecordingProxy> {
  const target = new URL(targetUrl);
  const results = new Map<string, TaskResult[]>();
  const posts: ProxiedResult[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const resultOf = RESULT_PATH.exec(req.url ?? '');
      const post: ProxiedResult | undefined =
        resultOf && req.method === 'POST' ? { taskId: decodeURIComponent(resultOf[1]), body: JSON.parse(body.toString('utf8')) as TaskResult } : undefined;
      if (post) posts.push(post);
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (answer) => {
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
    gone: () => new Set(posts.filter((post) => post.status === 404).map((post) => post.taskId)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return proxy;
}
