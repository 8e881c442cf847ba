// GET / on the hub: a page for the people who call it, listing the LLMs and agents their token sees, with status.
// The page itself is public and static; it asks for the token, keeps it in sessionStorage (this tab only) and sends
// it as a bearer header to /api/v1/llms, so the token never rides in a URL where logs and proxies would keep it.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const PAGE = readFileSync(new URL('./home.html', import.meta.url));

export function homeRoutes(app: FastifyInstance): void {
  app.get('/', async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header(
        'content-security-policy',
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      )
      .send(PAGE),
  );
}
