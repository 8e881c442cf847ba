// bin/llm-registrar picks what to run: the build in dist/ while it is newer than every source file, the TypeScript
// source through tsx as soon as one is newer (an edited checkout never runs stale code). Checked on a copy of the
// script in a scratch checkout whose build and source each say which they are.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
let checkout: string | undefined;

afterEach(async () => {
  if (checkout) await rm(checkout, { recursive: true, force: true });
  checkout = undefined;
});

async function scratchCheckout(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-bin-'));
  await cp(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const folder of ['dist', 'src', 'machines', 'actors', 'inspect']) await mkdir(join(dir, folder));
  await writeFile(join(dir, 'src', 'cli.ts'), "const from: string = 'the source';\nconsole.log(from);\n");
  await writeFile(join(dir, 'dist', 'cli.js'), "console.log('the build');\n");
  return dir;
}

async function runs(dir: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'bin', 'llm-registrar')]);
  return stdout.trim();
}

describe('bin/llm-registrar', () => {
  it('runs the build while it is newer than the source, the source once a file of it is newer', async () => {
    const dir = (checkout = await scratchCheckout());
    const past = new Date(Date.now() - 60_000);
    await utimes(join(dir, 'src', 'cli.ts'), past, past);
    expect(await runs(dir)).toBe('the build');

    await writeFile(join(dir, 'machines', 'edited.ts'), '');
    await utimes(join(dir, 'dist', 'cli.js'), past, past);
    expect(await runs(dir)).toBe('the source');
  });

  it('runs the source when there is no build', async () => {
    const dir = (checkout = await scratchCheckout());
    await rm(join(dir, 'dist'), { recursive: true });
    expect(await runs(dir)).toBe('the source');
  });
});
