// One registrar per state directory: two on the same one would overwrite each other's session id and answer each
// other's tasks `registrar restarted`. The lock is a file holding the owner's pid; the lock of a pid that is no
// longer alive is stale and taken over; it is removed when the daemon stops, and on any exit of the process.
import { unlinkSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';

const FILE_NAME = 'registrar.lock';

export class StateDirLockedError extends Error {
  override readonly name = 'StateDirLockedError';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`another registrar (pid ${pid}) is running on the state directory ${dir}: stop it first, or give this one another --state-dir`);
  }
}

export interface StateDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Lock files this process holds: a second daemon in the same process is refused like one in another process. */
const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, it is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerOf(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Takes the lock of `dir`, or throws StateDirLockedError naming the pid that holds it. A directory where no lock can
 * be written is logged and run without one: the state file logs its own trouble there, and the daemon runs on.
 */
export async function lockStateDir(dir: string, logger: Logger): Promise<StateDirLock> {
  const path = join(dir, FILE_NAME);
  const unlocked: StateDirLock = { path, release: async () => undefined };
  if (heldHere.has(path)) throw new StateDirLockedError(dir, process.pid);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    logger.warn({ path, err: error }, `state directory lock not taken (${(error as Error).message}): nothing stops a second registrar on it`);
    return unlocked;
  }
  // Two rounds: the second follows the removal of a stale lock.
  for (let round = 0; round < 2; round++) {
    try {
      const file = await open(path, 'wx', 0o600);
      try {
        await file.writeFile(`${process.pid}\n`);
      } finally {
        await file.close();
      }
      return held(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        logger.warn({ path, err: error }, `state directory lock not taken (${(error as Error).message}): nothing stops a second registrar on it`);
        return unlocked;
      }
    }
    const owner = await ownerOf(path);
    // Our own pid in a lock we do not hold: left by an earlier process that had the same pid (a container's pid 1).
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) throw new StateDirLockedError(dir, owner);
    logger.warn({ path, pid: owner }, `taking over the state directory lock of ${owner === undefined ? 'an unreadable owner' : `pid ${owner}, which is no longer running`}`);
    await rm(path, { force: true });
  }
  throw new StateDirLockedError(dir, (await ownerOf(path)) ?? 0);
}

/** A crash or process.exit() skips release(): every lock this process holds goes with it (one listener for them all). */
let exitHookInstalled = false;
function removeHeldLocksOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const path of heldHere) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    }
  });
}

function held(path: string): StateDirLock {
  heldHere.add(path);
  removeHeldLocksOnExit();
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      if ((await ownerOf(path)) === process.pid) await rm(path, { force: true });
    },
  };
}
