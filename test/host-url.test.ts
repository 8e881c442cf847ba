// hostUrl: the one formatter of a host and port as a URL.
import { describe, expect, it } from 'vitest';
import { hostUrl } from '../src/host-url.ts';

describe('hostUrl', () => {
  it.each([
    ['127.0.0.1', 4848, 'http', 'http://127.0.0.1:4848'],
    ['localhost', 80, 'http', 'http://localhost:80'],
    ['::1', 4848, 'https', 'https://[::1]:4848'],
    ['[::1]', 4848, 'http', 'http://[::1]:4848'],
    ['fe80::1%eth0', 9, 'http', 'http://[fe80::1%eth0]:9'],
  ])('writes %s port %i over %s as %s', (host, port, scheme, url) => {
    expect(hostUrl(host, port, scheme)).toBe(url);
  });

  it('leaves the port out when there is none', () => {
    expect(hostUrl('::1')).toBe('http://[::1]');
  });
});
