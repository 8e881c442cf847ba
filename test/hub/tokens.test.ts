// The tokens file: loaded when right (hashed entries, and clear ones of the old format), refused with every problem
// named, and never a token in the message; written with hashes only. A token revoked while the hub runs cuts the
// sessions it opened.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadTokensFile, TokenTable } from '../../src/hub/index.ts';
import { watchTokensFile } from '../../src/hub/tokens-reload.ts';
import { newToken, tokenDigest, writeTokensFile } from '../../src/hub/tokens.ts';
import { silentLogger } from '../../src/log.ts';
import { BOB, hubHarness, provider } from './helpers.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function file(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hub-tokens-'));
  dirs.push(dir);
  const path = join(dir, 'tokens.json');
  await writeFile(path, text);
  return path;
}

describe('loadTokensFile', () => {
  it('loads users and admins kept in clear (the old format), counting them for the warning', async () => {
    const path = await file(JSON.stringify({ 'tok-a': { user: 'alice' }, 'tok-r': { user: 'root', admin: true } }));
    expect(await loadTokensFile(path)).toEqual({
      records: [
        { digest: tokenDigest('tok-a'), user: 'alice', admin: false },
        { digest: tokenDigest('tok-r'), user: 'root', admin: true },
      ],
      clearText: 2,
    });
  });

  it('loads hashed entries as they are, and a table built from them knows the tokens', async () => {
    const token = newToken();
    const path = await file(JSON.stringify({ [`sha256:${tokenDigest(token)}`]: { user: 'alice', created: '2026-01-01T00:00:00.000Z' } }));
    const loaded = await loadTokensFile(path);
    expect(loaded).toEqual({ records: [{ digest: tokenDigest(token), user: 'alice', admin: false, created: '2026-01-01T00:00:00.000Z' }], clearText: 0 });
    const table = new TokenTable({}, loaded.records);
    expect(table.authenticate(`Bearer ${token}`)).toEqual({ user: 'alice', admin: false });
    expect(table.authenticate('Bearer someone-else')).toBeUndefined();
    table.replace([]);
    expect(table.authenticate(`Bearer ${token}`)).toBeUndefined();
  });

  it('writes hashes only, mode 0600, and reads back what it wrote', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'hub-tokens-')), 'tokens.json');
    dirs.push(join(path, '..'));
    const token = newToken();
    expect(token).toMatch(/^llmr_[A-Za-z0-9_-]{32}$/);
    await writeTokensFile(path, [{ digest: tokenDigest(token), user: 'ops', admin: true, created: 'now' }]);
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(token);
    expect(JSON.parse(text)).toEqual({ [`sha256:${tokenDigest(token)}`]: { user: 'ops', admin: true, created: 'now' } });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await loadTokensFile(path)).records).toEqual([{ digest: tokenDigest(token), user: 'ops', admin: true, created: 'now' }]);
  });

  it('names every bad entry by number and user, never by its token', async () => {
    const path = await file(JSON.stringify({ 'SECRET-1': { user: '' }, 'SECRET-2': { user: 'bob', admin: 'yes' }, 'SECRET-3': 'carol' }));
    const error = await loadTokensFile(path).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('entry 1: "user" must be a non-empty string');
    expect(message).toContain(`entry 2 (user 'bob'): "admin" must be true or false`);
    expect(message).toContain('entry 3: expected {"user"');
    expect(message).not.toContain('SECRET');
  });

  it('refuses a file that is not JSON without quoting it', async () => {
    const path = await file('{"SECRET-TOKEN": {"user": "alice"},}');
    await expect(loadTokensFile(path)).rejects.toThrow(/not valid JSON/);
    await expect(loadTokensFile(path)).rejects.not.toThrow(/SECRET/);
  });

  it('refuses a missing file, naming the path; an empty one is a file with no tokens (all revoked)', async () => {
    await expect(loadTokensFile('/nonexistent/tokens.json')).rejects.toThrow('tokens file /nonexistent/tokens.json: cannot read it (ENOENT)');
    expect(await loadTokensFile(await file('{}'))).toEqual({ records: [], clearText: 0 });
  });
});

describe('a token revoked while the hub runs', () => {
  const harness = hubHarness();
  const KEPT = 'alice-second-token-0123456789';
  const REVOKED = 'alice-revoked-token-0123456789';
  const hello = [{ role: 'user', content: 'hi' }];

  async function hubWith(table: TokenTable) {
    const hub = await harness.start({ tokens: table });
    const revoked = harness.registrar(hub, REVOKED);
    await revoked.register([provider('on-revoked')]);
    const revokedStream = await revoked.stream();
    const kept = harness.registrar(hub, KEPT);
    await kept.register([provider('on-kept')]);
    const keptStream = await kept.stream();
    const bob = harness.client(hub, BOB);
    const status = async (name: string) => ((await (await bob.get(`/api/v1/llms/${name}`)).json()) as { status: string }).status;
    expect([await status('on-revoked'), await status('on-kept')]).toEqual(['active', 'active']);
    return { hub, revoked, revokedStream, keptStream, bob, status };
  }

  const records = (...tokens: Array<[string, string]>) => tokens.map(([token, user]) => ({ digest: tokenDigest(token), user, admin: false }));

  it('ends the streams of the sessions it opened and makes their rows inactive at once; the next request with it gets 401', async () => {
    const table = new TokenTable({}, records([REVOKED, 'alice'], [KEPT, 'alice'], [BOB, 'bob']));
    const { revoked, revokedStream, keptStream, bob, status } = await hubWith(table);
    const waiting = bob.post('/v1/chat/completions', { model: 'on-revoked', messages: hello });
    await revokedStream.nextTask();

    table.replace(records([KEPT, 'alice'], [BOB, 'bob']));
    expect(await revokedStream.rest(1_000)).toEqual([]);
    expect(revokedStream.ended).toBe(true);
    expect(await status('on-revoked')).toBe('inactive');
    expect((await waiting).status).toBe(503);
    expect((await bob.post('/v1/chat/completions', { model: 'on-revoked', messages: hello })).status).toBe(503);
    expect((await revoked.heartbeat()).status).toBe(401);
    expect((await revoked.api.get('/v1/models')).status).toBe(401);

    // The same user's session on another token is not touched.
    expect(await status('on-kept')).toBe('active');
    expect(keptStream.ended).toBe(false);
  });

  it('does so when the tokens file loses the token and is reloaded', async () => {
    const path = await file(JSON.stringify({}));
    const all = records([REVOKED, 'alice'], [KEPT, 'alice'], [BOB, 'bob']);
    await writeTokensFile(path, all);
    const table = new TokenTable({}, all);
    const { revokedStream, status } = await hubWith(table);
    const reload = watchTokensFile({ file: path, table, fixed: [], initial: all, logger: silentLogger() });
    try {
      await writeTokensFile(path, records([KEPT, 'alice'], [BOB, 'bob']));
      await reload.reload('test');
      expect(await revokedStream.rest(1_000)).toEqual([]);
      expect(await status('on-revoked')).toBe('inactive');
    } finally {
      reload.close();
    }
  });
});
