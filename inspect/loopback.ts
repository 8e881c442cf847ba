// Servers bound to loopback answer only to loopback names: a web page elsewhere could otherwise reach them through
// DNS rebinding (its own name, resolved to 127.0.0.1) and read the daemon's state.
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const LOOPBACK_NAMES = new Set(['localhost', '[::1]', '::1']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** False when the server listens on loopback and the request names another host. */
export function hostAllowed(boundHost: string, request: IncomingMessage): boolean {
  if (!isLoopbackHost(boundHost)) return true;
  const named = (request.headers.host ?? '').replace(/:\d+$/, '');
  return isLoopbackHost(named);
}

/** Starts `server` listening; resolves with its port (the one asked for, or the one picked for 0), rejects on EADDRINUSE. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
