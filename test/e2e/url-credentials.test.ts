// Credentials written inside a URL (`http://user:pass@…`), through the real commands: `check-config` warns about
// them by path, `init` and `start` never print them (logs, status), and a hub URL carrying them still works.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { eventually, fastHub, fastTiming, TOKEN } from '../support/cluster.ts';
import { cli, killChildren, runCli } from '../support/cli.ts';

const PASSWORD = 'hunter2-in-the-url';
let hub: Hub | undefined;
const dirs: string[] = [];
afterEach(async () => {
  killChildren();
  await hub?.close();
  hub = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-cred-'));
  dirs.push(dir);
  return dir;
}

const withCredentials = (url: string) => url.replace('http://', `http://alice:${PASSWORD}@`);

describe('credentials inside URLs', () => {
  it('check-config names every URL that carries them, without showing them', async () => {
    const dir = await tempDir();
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        hub: { url: `http://alice:${PASSWORD}@hub.internal:4848`, token: TOKEN },
        providers: [
          { name: 'gpu', type: 'openai', baseUrl: `http://bob:${PASSWORD}@127.0.0.1:8000/v1`, model: 'm', wake: { type: 'http', url: `http://carol:${PASSWORD}@127.0.0.1:9000/wake` } },
          { name: 'clean', type: 'openai', baseUrl: 'http://127.0.0.1:8001/v1', model: 'm' },
        ],
      }),
    );
    const { code, stdout, stderr } = await cli(['check-config', file]);
    expect(code).toBe(0);
    expect(stdout).toContain('hub http://***@hub.internal:4848');
    expect(stderr).toMatch(/^warning: hub\.url has a user name or password in it: they are not sent/m);
    expect(stderr).toMatch(/^warning: providers\[0\]\.baseUrl has a user name or password in it/m);
    expect(stderr).toMatch(/^warning: providers\[0\]\.wake\.url has a user name or password in it/m);
    expect(stderr).not.toContain('providers[1]');
    expect(stdout + stderr).not.toContain(PASSWORD);
    expect(stdout + stderr).not.toContain('alice');
  });

  it('init does not print the ones given in --hub', async () => {
    const dir = await tempDir();
    const { code, stdout, stderr } = await cli(['init', '--hub', `http://alice:${PASSWORD}@hub.internal:4848`, join(dir, 'config.json')], { LLM_REGISTRAR_HUB_TOKEN: TOKEN });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('http://***@hub.internal:4848');
    expect(stdout + stderr).not.toContain(PASSWORD);
  }, 30_000);

  it('start connects through a hub URL that carries them, and neither its log nor its status shows them', async () => {
    hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester', admin: true } }, ...fastHub });
    const dir = await tempDir();
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ hub: { url: withCredentials(hub.url), token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: fastTiming }));
    const daemon = runCli(['start', '--config', file, '--state-dir', join(dir, 'state'), '--status-port', '0']);
    const statusUrl = await eventually(() => {
      const match = /status page at (http:\/\/127\.0\.0\.1:\d+)\//.exec(daemon.output());
      expect(match, daemon.output()).not.toBeNull();
      return match![1];
    }, 15_000);
    const status = await eventually(async () => {
      const result = await cli(['status', '--status-url', statusUrl]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      return result;
    }, 15_000);
    expect(status.stdout).toContain(`hub ${hub.url.replace('http://', 'http://***@')}`);
    expect(daemon.output()).toMatch(/hub\.url has a user name or password in it/);
    expect(daemon.output() + status.stdout + status.stderr).not.toContain(PASSWORD);
  }, 30_000);
});
