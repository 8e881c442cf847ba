// GET / on the hub: a static page for callers that asks for the token itself, so the route needs none.
import { describe, expect, it } from 'vitest';
import { ALICE, hubHarness } from './helpers.ts';

const harness = hubHarness();

describe('the hub front page', () => {
  it('answers without a token, with a static page that sends the token as a header, never in a URL', async () => {
    const hub = await harness.start();
    const response = await fetch(`${hub.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await response.text();
    expect(html).toContain('sessionStorage');
    expect(html).toContain("fetch(path, { headers: { authorization: `Bearer ${token}` }");
    expect(html).toContain("get('/api/v1/llms', token)");
    expect(html).not.toMatch(/[?&]token=/);
  });

  it('leaves every other route behind the token', async () => {
    const hub = await harness.start();
    expect((await fetch(`${hub.url}/api/v1/llms`)).status).toBe(401);
    expect((await fetch(`${hub.url}/index.html`)).status).toBe(401);
    expect((await harness.client(hub, ALICE).get('/api/v1/llms')).status).toBe(200);
  });
});
