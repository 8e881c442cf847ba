// The tokens file: loaded when right, refused with every problem named, and never a token in the message.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadTokensFile } from '../../src/hub/index.ts';

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
  it('loads users and admins', async () => {
    const path = await file(JSON.stringify({ 'tok-a': { user: 'alice' }, 'tok-r': { user: 'root', admin: true } }));
    expect(await loadTokensFile(path)).toEqual({ 'tok-a': { user: 'alice' }, 'tok-r': { user: 'root', admin: true } });
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

  it('refuses a missing file and an empty one, naming the path', async () => {
    await expect(loadTokensFile('/nonexistent/tokens.json')).rejects.toThrow('tokens file /nonexistent/tokens.json: cannot read it (ENOENT)');
    await expect(loadTokensFile(await file('{}'))).rejects.toThrow(/no tokens/);
  });
});
