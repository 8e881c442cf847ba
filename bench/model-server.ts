// The scriptable OpenAI-compatible model server of the tests, as a process of its own, so its CPU is its own:
// `node --import tsx bench/model-server.ts [--tokens N] [--token-delay-ms MS]` prints `{"url": …}` once listening.
import { parseArgs } from 'node:util';
import { startOpenAiServer } from '../test/support/model-server.ts';

const { values } = parseArgs({ options: { tokens: { type: 'string' }, 'token-delay-ms': { type: 'string' } } });
const tokens = Number(values.tokens ?? 8);
const reply = Array.from({ length: tokens }, (_, i) => (i === 0 ? 'tok0' : ` tok${i}`)).join('');
const server = await startOpenAiServer({ reply: () => reply, tokenDelayMs: Number(values['token-delay-ms'] ?? 0) });
// The doubles keep every request for the tests' assertions: a benchmark of 100,000 calls must not.
Object.defineProperty(server, 'requests', { get: () => [], set: () => {} });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
