// `llm-registrar usage` as a user runs it: the real command as a process against a real hub that served real calls
// (a registrar speaking openai.v1 and an OpenAI-compatible upstream double on 127.0.0.1).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { cli, killChildren } from '../support/cli.ts';
import { startOpenAiUpstream, type OpenAiUpstream } from '../support/openai-upstream.ts';
import { startWireRegistrar, type WireRegistrar } from '../support/wire-registrar.ts';

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const opened: Array<Hub | OpenAiUpstream | WireRegistrar> = [];
afterEach(async () => {
  killChildren();
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

async function configFor(hubUrl: string, token: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'llmr-usage-')), 'config.json');
  await writeFile(file, JSON.stringify({ hub: { url: hubUrl, token }, providers: [] }));
  return file;
}

async function hubWithCalls(): Promise<Hub> {
  const upstream = await startOpenAiUpstream();
  opened.push(upstream);
  const hub = await startHub({ port: 0, tokens: { [ALICE]: { user: 'alice' }, [BOB]: { user: 'bob' }, [ADMIN]: { user: 'root', admin: true } } });
  opened.push(hub);
  const registrar = await startWireRegistrar({ hubUrl: hub.url, token: ALICE, providers: [{ name: 'llama', model: 'tiny', upstream: upstream.baseUrl }] });
  opened.push(registrar);
  await registrar.openStream();
  const call = (token: string) =>
    fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }) }).then((res) => res.text());
  await call(BOB);
  await call(BOB);
  await call(ALICE);
  return hub;
}

describe('llm-registrar usage', () => {
  it('prints a table of calls and tokens per model for the token, and per user for an admin', async () => {
    const hub = await hubWithCalls();
    const mine = await cli(['usage', '--config', await configFor(hub.url, BOB)]);
    expect(mine.stderr).toBe('');
    expect(mine.code).toBe(0);
    expect(mine.stdout).toMatch(/bob \(your token\)/);
    expect(mine.stdout).toMatch(/^MODEL\s+CALLS\s+ERRORS\s+TOKENS IN\s+TOKENS OUT$/m);
    expect(mine.stdout).toMatch(/^llama\s+2\s+0\s+10\s+4$/m);

    const all = await cli(['usage', '--by', 'user', '--since', '1h', '--config', await configFor(hub.url, ADMIN), '--json']);
    expect(all.code).toBe(0);
    const parsed = JSON.parse(all.stdout) as { scope: string; by: string; rows: unknown[] };
    expect(parsed).toMatchObject({ scope: 'everyone', by: 'user' });
    expect(parsed.rows).toEqual([
      { key: 'bob', calls: 2, tokensIn: 10, tokensOut: 4, errors: 0 },
      { key: 'alice', calls: 1, tokensIn: 5, tokensOut: 2, errors: 0 },
    ]);
  });

  it('exits 2 naming the flag for a bad --by or --since, and 1 when the hub is unreachable', async () => {
    const hub = await hubWithCalls();
    const config = await configFor(hub.url, BOB);
    const badBy = await cli(['usage', '--by', 'row', '--config', config]);
    expect(badBy.code).toBe(2);
    expect(badBy.stderr).toMatch(/--by must be 'user' or 'model', not 'row'/);
    const badSince = await cli(['usage', '--since', 'yesterday', '--config', config]);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toMatch(/--since: expected a duration back/);
    const url = hub.url;
    await hub.close();
    const down = await cli(['usage', '--config', config]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`hub ${url} unreachable (ECONNREFUSED)`);
    expect(down.stderr).not.toContain(BOB);
  });
});
