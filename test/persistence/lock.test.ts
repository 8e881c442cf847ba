// The state directory lock within one process: a second daemon here is refused like one elsewhere, a released lock
// can be taken again, and a directory that cannot hold a lock is run without one, said once.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockStateDir, StateDirLockedError } from '../../src/persistence/lock.ts';
import { captureLogs } from '../support/registrar.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-lock-'));
  dirs.push(dir);
  return dir;
}

describe('lockStateDir', () => {
  it('refuses a second lock of the same directory in this process, naming this pid, until the first is released', async () => {
    const dir = await tempDir();
    const { logger } = captureLogs();
    const first = await lockStateDir(dir, logger);
    const second = lockStateDir(dir, logger);
    await expect(second).rejects.toThrow(StateDirLockedError);
    await expect(second).rejects.toThrow(`another registrar (pid ${process.pid})`);
    await first.release();
    const again = await lockStateDir(dir, logger);
    await again.release();
  });

  it('runs without a lock where none can be written, and says so', async () => {
    const base = await tempDir();
    await writeFile(join(base, 'a-file'), '');
    const { logger, lines } = captureLogs();
    const lock = await lockStateDir(join(base, 'a-file', 'state'), logger);
    await lock.release();
    expect(lines.filter((line) => /state directory lock not taken/.test(line.msg))).toHaveLength(1);
  });
});
