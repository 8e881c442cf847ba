// A tiny round-robin HTTP load balancer on 127.0.0.1 in front of the hub's replicas, for the cluster script and
// tests: each request goes to the next replica; one that refuses the connection is skipped for that request.
// Answers are piped, so a registrar's task stream and a caller's SSE pass through as they come; a body of known
// length is buffered (so a refused connection can go to the next replica), a chunked upload is piped.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RoundRobinProxy {
  url: string;
  close(): Promise<void>;
}

export async function startRoundRobinProxy(upstreams: string[], port = 0): Promise<RoundRobinProxy> {
  const targets = upstreams.map((upstream) => new URL(upstream));
  const agent = new http.Agent({ keepAlive: true });
  let next = 0;

  const forward = (request: http.IncomingMessage, response: http.ServerResponse, body: Buffer | undefined, tries: number): void => {
    const target = targets[next++ % targets.length]!;
    const outgoing = http.request(
      { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: { ...request.headers, host: target.host }, agent },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
        response.on('close', () => answer.destroy());
      },
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      if (!response.headersSent && body !== undefined && error.code === 'ECONNREFUSED' && tries + 1 < targets.length) return forward(request, response, body, tries + 1);
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'no replica answered' } }));
      else response.destroy();
    });
    response.on('close', () => outgoing.destroy());
    if (body === undefined) request.pipe(outgoing);
    else outgoing.end(body);
  };

  const server = http.createServer((request, response) => {
    if (request.headers['transfer-encoding'] === 'chunked') return forward(request, response, undefined, 0);
    const parts: Buffer[] = [];
    request.on('data', (part: Buffer) => parts.push(part));
    request.on('end', () => forward(request, response, Buffer.concat(parts), 0));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
