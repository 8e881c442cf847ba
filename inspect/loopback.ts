// Servers bound to loopback answer only to loopback names: a web page elsewhere could otherwise reach them through
// DNS rebinding (its own name, resolved to 127.0.0.1) and read the daemon's state.
import type { IncomingMessage } from 'node:http';

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

export function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
