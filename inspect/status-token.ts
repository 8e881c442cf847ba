// The token the status server's writes (`POST /pause`, `/resume`) demand: random, made at start, kept in a 0600 file
// of the state dir, so only this user (the CLI, or a person who pastes it into the page) can pause the daemon.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const STATUS_TOKEN_FILE = 'status-token';

export function statusTokenPath(stateDir: string): string {
  return join(stateDir, STATUS_TOKEN_FILE);
}

/** A fresh token for this run, written atomically with mode 0600 (a file left by another umask is replaced). */
export async function createStatusToken(stateDir: string): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = statusTokenPath(stateDir);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${token}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
  return token;
}

/** The token of the daemon running on this state dir; undefined when it has none (not running, or never started). */
export async function readStatusToken(stateDir: string): Promise<string | undefined> {
  try {
    return (await readFile(statusTokenPath(stateDir), 'utf8')).trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
