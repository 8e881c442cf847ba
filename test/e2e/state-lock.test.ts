// The state directory's lock, through the real command: a second `start` on the same directory stops with an error
// naming the first one's pid, a lock left by a dead process is taken over, and the lock goes when the daemon exits.
import { spawnSync } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { eventually, fastHub, fastTiming, TOKEN } from '../support/cluster.ts';
import { cli, killChildren, runCli, type Running } from '../support/cli.ts';

let hub: Hub | undefined;
const dirs: string[] = [];
afterEach(async () => {
  killChildren();
  await hub?.close();
  hub = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function setUp(): Promise<{ config: string; stateDir: string; lock: string }> {
  hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester', admin: true } }, ...fastHub });
  const dir = await mkdtemp(join(tmpdir(), 'llmr-lock-'));
  dirs.push(dir);
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ hub: { url: hub.url, token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: fastTiming }));
  const stateDir = join(dir, 'state');
  return { config, stateDir, lock: join(stateDir, 'registrar.lock') };
}

const start = (config: string, stateDir: string) => runCli(['start', '--config', config, '--state-dir', stateDir, '--no-status']);
const connected = (daemon: Running) => eventually(() => expect(daemon.output()).toMatch(/"msg":"live on /), 15_000);
const exists = (path: string) => access(path).then(() => true, () => false);

describe('the state directory lock', () => {
  it('stops a second registrar on the same state directory with an error naming the first one, and is gone after exit', async () => {
    const { config, stateDir, lock } = await setUp();
    const first = start(config, stateDir);
    await connected(first);
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(first.child.pid));

    const second = await cli(['start', '--config', config, '--state-dir', stateDir, '--no-status']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another registrar (pid ${first.child.pid}) is running on the state directory ${stateDir}: stop it first, or give this one another --state-dir`);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(await exists(lock)).toBe(false);
  }, 30_000);

  it('takes over the lock of a registrar that died', async () => {
    const { config, stateDir, lock } = await setUp();
    // A pid that was alive a moment ago and is not any more.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await mkdir(stateDir, { recursive: true });
    await writeFile(lock, `${dead}\n`);
    const daemon = start(config, stateDir);
    await connected(daemon);
    expect(daemon.output()).toContain(`taking over the state directory lock of pid ${dead}, which is no longer running`);
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(daemon.child.pid));
  }, 30_000);
});
