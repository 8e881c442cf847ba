// A fastify app with the hub's auth and error handling and the Anthropic and Responses front doors, whose ChatCaller
// calls an OpenAI-compatible double on loopback; closed after each test.
import Fastify from 'fastify';
import { afterEach } from 'vitest';
import { silentLogger } from '../../../src/log.ts';
import { installAuth, TokenTable } from '../../../src/hub/auth.ts';
import { installErrorHandlers } from '../../../src/hub/errors.ts';
import { anthropicRoutes } from '../../../src/hub/front/anthropic.ts';
import { responsesRoutes } from '../../../src/hub/front/responses.ts';
import { ResponseStore, type ResponseStoreOptions } from '../../../src/hub/front/responses-store.ts';
import { startChatUpstream, type ChatUpstream } from '../../support/chat-upstream.ts';
import { ALICE, BOB, TOKENS } from '../helpers.ts';

export { ALICE, BOB };

export interface FrontApp {
  url: string;
  upstream: ChatUpstream;
}

export function frontHarness(): { start(storeOptions?: ResponseStoreOptions): Promise<FrontApp> } {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  return {
    async start(storeOptions = {}) {
      const upstream = await startChatUpstream();
      closers.push(() => upstream.close());
      const app = Fastify({ bodyLimit: 1_048_576 });
      installErrorHandlers(app, silentLogger());
      installAuth(app, new TokenTable(TOKENS));
      // Every model is visible here but 'hidden' (the hub's rules are tested through a real hub, in doors.test.ts).
      await anthropicRoutes(app, { callChat: upstream.caller, sees: (_viewer, model) => model !== 'hidden', keepAliveMs: 1000 });
      await responsesRoutes(app, { callChat: upstream.caller, keepAliveMs: 1000, store: new ResponseStore(storeOptions) });
      await app.listen({ host: '127.0.0.1', port: 0 });
      closers.push(async () => {
        app.server.closeAllConnections();
        await app.close();
      });
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('no port');
      return { url: `http://127.0.0.1:${address.port}`, upstream };
    },
  };
}
