// The tokens file: loaded when right (hashed entries, and clear ones of the old format), refused with every problem
// named, and never a token in the message; written with hashes only.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadTokensFile, TokenTable } from '../../src/hub/index.ts';
import { newToken, tokenDigest, writeTokensFile } from '../../src/hub/tokens.ts';

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
