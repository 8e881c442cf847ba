// The one way to write the URL of a host and port: an IPv6 literal goes in brackets (RFC 3986 §3.2.2), or the port
// would read as part of the address.

/** `scheme://host[:port]`; `host` may be a name, an IPv4 address, or an IPv6 literal with or without brackets. */
export function hostUrl(host: string, port?: number, scheme = 'http'): string {
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${scheme}://${shown}${port === undefined ? '' : `:${port}`}`;
}
