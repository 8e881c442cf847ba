// What is never printed in full: credentials inside URLs, and session ids.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasCredentials, redactUrl, shortSessionId, withoutCredentials } from '../src/redact.ts';

describe('redactUrl', () => {
  it.each([
    ['http://alice:hunter2@hub.internal:4848/api', 'http://***@hub.internal:4848/api'],
    ['https://token@hub.internal', 'https://***@hub.internal'],
    ['http://u:p@ss@hub.internal/x', 'http://***@hub.internal/x'],
    ['http://hub.internal:4848', 'http://hub.internal:4848'],
    ['hub http://a:b@h1 unreachable, then https://c:d@h2/p?q=x@y', 'hub http://***@h1 unreachable, then https://***@h2/p?q=x@y'],
  ])('%s → %s', (url, shown) => expect(redactUrl(url)).toBe(shown));

  it('never leaves a password of a URL in what it prints', () => {
    const part = fc.stringMatching(/^[A-Za-z0-9._~%!$&'()*+,;=:-]{1,20}$/);
    fc.assert(
      fc.property(part, part, (user, password) => {
        const shown = redactUrl(`failed: http://${user}:${password}@hub.internal:4848/api/v1 (ECONNREFUSED)`);
        expect(shown).toBe('failed: http://***@hub.internal:4848/api/v1 (ECONNREFUSED)');
      }),
    );
  });
});

describe('hasCredentials and withoutCredentials', () => {
  it('see a user name or a password, and take them out', () => {
    expect(hasCredentials('http://alice:hunter2@hub.internal')).toBe(true);
    expect(hasCredentials('http://alice@hub.internal')).toBe(true);
    expect(hasCredentials('http://hub.internal/a@b')).toBe(false);
    expect(withoutCredentials('http://alice:hunter2@hub.internal:4848/base')).toBe('http://hub.internal:4848/base');
    expect(withoutCredentials('http://hub.internal:4848')).toBe('http://hub.internal:4848');
  });
});

describe('shortSessionId', () => {
  it('shows the first 8 characters', () => {
    expect(shortSessionId('0123456789abcdef')).toBe('01234567');
    expect(shortSessionId(undefined)).toBeUndefined();
  });
});
