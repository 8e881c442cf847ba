// The commands around the daemon, run as a user runs them: status, init, schema, install-service, the watch flags
// of start, and every --help.
import { lstat, mkdir, mkdtemp, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { eventually, fastHub, fastTiming, TOKEN } from '../support/cluster.ts';
import { BIN, cli, killChildren, runCli } from '../support/cli.ts';

let hub: Hub | undefined;
afterEach(async () => {
  killChildren();
  await hub?.close();
  hub = undefined;
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function writeConfig(config: Record<string, unknown>): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-cli-'));
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify(config));
  return { dir, file };
}

/** The URL a `start` printed for its status page. */
async function statusUrlOf(output: () => string): Promise<string> {
  return eventually(() => {
    const match = /status page at (http:\/\/127\.0\.0\.1:\d+)\//.exec(output());
    expect(match, output()).not.toBeNull();
    return match![1];
  }, 15_000);
}

describe('every command explains itself', () => {
  const commands = ['up', 'start', 'hub', 'hub tokens', 'models', 'usage', 'check-config', 'status', 'init', 'schema', 'install-service', 'completion', 'version'];

  it('lists every command in the main help', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const name of commands) expect(stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    expect(stdout).toContain('(alias: ls)');
  });

  it.each(commands)('%s --help prints its usage, options and what it does', async (name) => {
    const { code, stdout } = await cli([...name.split(' '), '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: llm-registrar ${name}`));
    // A usage line and at least a sentence of explanation.
    expect(stdout.split('\n').filter((line) => line.trim()).length).toBeGreaterThanOrEqual(3);
  });

  it('names the watch flags in the help of start and up', async () => {
    for (const name of ['start', 'up']) {
      const { stdout } = await cli([name, '--help']);
      for (const flag of ['--status-port', '--no-status', '--inspect', '--inspect-port', '4849']) expect(stdout).toContain(flag);
    }
  });
});

describe('llm-registrar status', () => {
  it('exits 3 and says what to do when no daemon answers', async () => {
    const { code, stderr, stdout } = await cli(['status', '--status-url', `http://127.0.0.1:${await closedPort()}`]);
    expect(code).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/no registrar answers at http:\/\/127\.0\.0\.1:\d+/);
    expect(stderr).toContain('llm-registrar start');
  });

  it('prints the tree of a connected daemon and exits 0; exits 1 once the hub is gone', async () => {
    hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester', admin: true } }, ...fastHub });
    const { dir, file } = await writeConfig({ hub: { url: hub.url, token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: fastTiming });
    const daemon = runCli(['start', '--config', file, '--state-dir', join(dir, 'state'), '--status-port', '0']);
    const url = await statusUrlOf(daemon.output);

    const connected = await eventually(async () => {
      const result = await cli(['status', '--status-url', url]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      return result;
    }, 15_000);
    expect(connected.stdout).toMatch(/^llm-registrar {2}pid \d+ · up .+ · hub http:\/\/127\.0\.0\.1:\d+$/m);
    expect(connected.stdout).toContain('\nconnected: the hub can send this registrar tasks\n');
    expect(connected.stdout).toContain(`\nconfig ${file}\n`);
    expect(connected.stdout).toMatch(/^publishes:\n {2}gpu {2}private {2}demo demo$/m);
    // The id in full is in the state file alone; what is printed is its first 8 characters.
    const fullId = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8')).facts.sessionId as string;
    expect(connected.stdout).toContain(`└─ session  connected (connected.streaming.open, for `);
    expect(connected.stdout).toMatch(new RegExp(`\\) {2}id ${fullId.slice(0, 8)}$`, 'm'));
    expect(connected.stdout + daemon.output()).not.toContain(fullId);
    expect(connected.stdout).toMatch(/└─ provider gpu {2}active {2}0\/4 running · 0 queued {2}the built-in demo model/);
    expect(connected.stdout).toContain('recent transitions:');
    expect(connected.stdout).not.toContain('\x1b[');
    expect(connected.stdout + connected.stderr).not.toContain(TOKEN);

    const json = await cli(['status', '--status-url', url, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(expect.objectContaining({ service: 'llm-registrar', session: expect.objectContaining({ connected: true }) }));

    await hub.close();
    hub = undefined;
    const down = await eventually(async () => {
      const result = await cli(['status', '--status-url', url]);
      expect(result.code).toBe(1);
      return result;
    }, 15_000);
    expect(down.stderr).toMatch(/^not connected to the hub: (hub unreachable.*, next try in \d+(\.\d)? m?s|registering with the hub|registered; opening the task stream)$/m);
    const unreachable = await eventually(async () => {
      const result = await cli(['status', '--status-url', url]);
      expect(result.stdout).toMatch(/^hub unreachable.*, next try in /m);
      return result;
    }, 15_000);
    expect(unreachable.code).toBe(1);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('exits 1 and says why when the daemon has nothing to publish', async () => {
    const { dir, file } = await writeConfig({ hub: { url: 'http://127.0.0.1:9', token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo', publish: false }] });
    const daemon = runCli(['start', '--config', file, '--state-dir', join(dir, 'state'), '--status-port', '0']);
    const url = await statusUrlOf(daemon.output);
    const result = await eventually(async () => {
      const answer = await cli(['status', '--status-url', url]);
      expect(answer.stderr).toContain('nothing to publish');
      return answer;
    });
    expect(result.code).toBe(1);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });
});

describe('start --inspect', () => {
  it('prints the address of the Stately inspector page on 127.0.0.1 and serves it', async () => {
    hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester', admin: true } }, ...fastHub });
    const { dir, file } = await writeConfig({ hub: { url: hub.url, token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: fastTiming });
    const daemon = runCli(['start', '--config', file, '--state-dir', join(dir, 'state'), '--no-status', '--inspect', '--inspect-port', '0']);
    const url = await eventually(() => {
      const match = /Stately inspector: open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(daemon.output());
      expect(match, daemon.output()).not.toBeNull();
      return match![1];
    }, 15_000);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('stately.ai/inspect');
    expect(daemon.output()).not.toContain('status page at');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('goes on without the status page when its port is taken, and says how to pick another', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester', admin: true } }, ...fastHub });
      const { dir, file } = await writeConfig({ hub: { url: hub.url, token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo' }], timing: fastTiming });
      const daemon = runCli(['start', '--config', file, '--state-dir', join(dir, 'state'), '--status-port', String(port)]);
      await eventually(() => expect(daemon.output()).toMatch(/status server not started: 127\.0\.0\.1:\d+ is in use .*--status-port N/), 15_000);
      await eventually(() => expect(daemon.output()).toContain('live on http://127.0.0.1:'), 15_000);
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
    } finally {
      blocker.close();
    }
  });
});

describe('llm-registrar init and schema', () => {
  it('writes a starter config that check-config accepts, with the schema beside it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'llmr-init-'));
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), LLM_REGISTRAR_HUB_URL: undefined, LLM_REGISTRAR_HUB_TOKEN: undefined };
    const first = await cli(['init', '--hub', 'http://hub.internal:4848'], env);
    expect(first.code, first.stderr).toBe(0);
    const path = join(home, 'config', 'llm-registrar', 'config.json');
    expect(first.stdout).toContain(`wrote ${path}`);
    expect(first.stdout).toContain('paste-your-hub-token-here');
    expect(first.stdout).toContain('llm-registrar check-config');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(path, 'utf8'));
    expect(config.$schema).toBe('./config.schema.json');
    expect(config.hub.url).toBe('http://hub.internal:4848');
    expect(config.providers.filter((p: { publish: boolean }) => p.publish).length).toBeGreaterThanOrEqual(1);
    const schema = JSON.parse(await readFile(join(home, 'config', 'llm-registrar', 'config.schema.json'), 'utf8'));
    expect(schema.title).toBe('llm-registrar config');

    const placeholder = await cli(['check-config', path], env);
    expect(placeholder.code).toBe(1);
    expect(placeholder.stderr).toContain('hub.token: still the placeholder that `llm-registrar init` wrote');
    const checked = await cli(['check-config', path], { ...env, LLM_REGISTRAR_HUB_TOKEN: 'the-real-token' });
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain(': valid');

    const again = await cli(['init'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    expect(again.stderr).toContain('--force');
    const forced = await cli(['init', '--force', '--hub', 'http://other:4848'], env);
    expect(forced.code).toBe(0);
    expect(JSON.parse(await readFile(`${path}.bak`, 'utf8')).hub.url).toBe('http://hub.internal:4848');
  });

  it('takes an explicit file and refuses a hub URL the loader would refuse', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-init-'));
    const bad = await cli(['init', '--hub', 'ftp://nope', join(dir, 'x.json')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('hub.url');
    const good = await cli(['init', join(dir, 'x.json')], { LLM_REGISTRAR_HUB_TOKEN: 'from-env', LLM_REGISTRAR_HUB_URL: undefined });
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('taken from LLM_REGISTRAR_HUB_TOKEN');
    expect(good.stdout).not.toContain('from-env');
    expect(JSON.parse(await readFile(join(dir, 'x.json'), 'utf8')).hub.token).toBe('from-env');
    expect((await cli(['check-config', join(dir, 'x.json')])).code).toBe(0);
  });

  it('prints the JSON Schema', async () => {
    const { code, stdout } = await cli(['schema']);
    expect(code).toBe(0);
    const schema = JSON.parse(stdout);
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.properties.hub.required).toEqual(['url', 'token']);
    // JSON has no comments: the schema carries what each key means, for the editor to show.
    const undescribed: string[] = [];
    const walk = (node: { type?: string; properties?: Record<string, unknown>; items?: unknown }, path: string): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        if (key !== '$schema' && !(child as { description?: string }).description) undescribed.push(`${path}${key}`);
        walk(child as typeof node, `${path}${key}.`);
      }
      if (node.items) walk(node.items as typeof node, path.replace(/\.$/, '[].'));
    };
    walk(schema, '');
    expect(undescribed).toEqual([]);
  });
});

describe('llm-registrar install-service', () => {
  it('--print shows a systemd user unit for start, without writing it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'llmr-svc-'));
    const { file } = await writeConfig({ hub: { url: 'http://hub:4848', token: TOKEN }, providers: [] });
    const { code, stdout, stderr } = await cli(['install-service', '--print', '--platform', 'linux', '--config', file], { HOME: home, XDG_STATE_HOME: join(home, 'state') });
    expect(code).toBe(0);
    expect(stdout).toContain('[Service]');
    expect(stdout).toContain(`ExecStart=${process.execPath} ${BIN} start --config ${file} --state-dir ${join(home, 'state', 'llm-registrar')}`);
    expect(stdout).toContain('KillSignal=SIGTERM');
    expect(stdout).toContain('WantedBy=default.target');
    expect(stdout).not.toContain(TOKEN);
    expect(stderr).toContain(join(home, '.config', 'systemd', 'user', 'llm-registrar.service'));
    await expect(stat(join(home, '.config', 'systemd'))).rejects.toThrow();
  });

  it('--print --platform darwin shows a launchd agent', async () => {
    const { file } = await writeConfig({ hub: { url: 'http://hub:4848', token: TOKEN }, providers: [] });
    const { code, stdout } = await cli(['install-service', '--print', '--platform', 'darwin', '--config', file]);
    expect(code).toBe(0);
    expect(stdout).toContain('<key>ProgramArguments</key>');
    expect(stdout).toContain(`<string>${BIN}</string>`);
    expect(stdout).toContain('<string>start</string>');
    expect(stdout).toContain(`<string>${file}</string>`);
    expect(stdout).toContain('<key>RunAtLoad</key>');
  });

  it('writes the unit under the home directory and prints how to enable it; refuses a bad config', async () => {
    const home = await mkdtemp(join(tmpdir(), 'llmr-svc-'));
    const { file } = await writeConfig({ hub: { url: 'http://hub:4848', token: TOKEN }, providers: [] });
    const { code, stdout } = await cli(['install-service', '--platform', 'linux', '--config', file], { HOME: home });
    expect(code).toBe(0);
    const unit = await readFile(join(home, '.config', 'systemd', 'user', 'llm-registrar.service'), 'utf8');
    expect(unit).toContain(`--config ${file}`);
    expect(stdout).toContain('systemctl --user enable --now llm-registrar.service');
    expect(stdout).toContain('journalctl --user -u llm-registrar.service');

    const broken = await writeConfig({ hub: { url: 'not a url' } });
    const refused = await cli(['install-service', '--platform', 'linux', '--config', broken.file], { HOME: home });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('hub.url');
  });
});

describe('install-service --uninstall', () => {
  it('removes the unit and the link that enabled it, then says how to stop what still runs; a second run has nothing to do', async () => {
    const home = await mkdtemp(join(tmpdir(), 'llmr-svc-'));
    const { file } = await writeConfig({ hub: { url: 'http://hub:4848', token: TOKEN }, providers: [] });
    expect((await cli(['install-service', '--platform', 'linux', '--config', file], { HOME: home })).code).toBe(0);
    const unit = join(home, '.config', 'systemd', 'user', 'llm-registrar.service');
    const link = join(home, '.config', 'systemd', 'user', 'default.target.wants', 'llm-registrar.service');
    await mkdir(dirname(link), { recursive: true });
    await symlink(unit, link);

    const removed = await cli(['install-service', '--uninstall', '--platform', 'linux'], { HOME: home });
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`removed ${unit}`);
    expect(removed.stdout).toContain('systemctl --user stop llm-registrar.service');
    await expect(stat(unit)).rejects.toThrow();
    await expect(lstat(link)).rejects.toThrow();

    const again = await cli(['install-service', '--uninstall', '--platform', 'linux'], { HOME: home });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to remove');
    expect((await cli(['install-service', '--uninstall', '--print'], { HOME: home })).code).toBe(2);
  });
});

describe('llm-registrar models (ls)', () => {
  it('lists what the hub offers the config token, as a table and as --json; private rows of others stay hidden', async () => {
    hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester' }, 'other-token': { user: 'other' } }, ...fastHub });
    const mine = await writeConfig({
      hub: { url: hub.url, token: TOKEN },
      providers: [{ name: 'gpu', type: 'demo', model: 'demo', visibility: 'public', poolName: 'team' }, { name: 'mine', type: 'demo', model: 'demo' }],
      timing: fastTiming,
    });
    const daemon = runCli(['start', '--config', mine.file, '--state-dir', join(mine.dir, 'state'), '--no-status']);
    await eventually(() => expect(daemon.output()).toContain('live on'), 15_000);

    const table = await cli(['ls', '--config', mine.file]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^NAME +STATUS +OWNER +VISIBILITY +POOL +MODEL\n/);
    expect(table.stdout).toMatch(/^gpu +active +tester +public +team +demo$/m);
    expect(table.stdout).toMatch(/^mine +active +tester +private +- +demo$/m);
    expect(table.stdout).not.toContain(TOKEN);

    const other = await writeConfig({ hub: { url: hub.url, token: 'other-token' }, providers: [] });
    const json = await cli(['models', '--config', other.file, '--json']);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as { hub: string; llms: { name: string; visibility: string }[] };
    expect(body.hub).toBe(hub.url);
    expect(body.llms.map((row) => row.name)).toEqual(['gpu']);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('exits 1 with the reason when the hub refuses the token or does not answer', async () => {
    hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester' } }, ...fastHub });
    const refused = await writeConfig({ hub: { url: hub.url, token: 'wrong-token' }, providers: [] });
    const denied = await cli(['models', '--config', refused.file]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(`refused the token (401): check hub.token in ${refused.file}`);
    expect(denied.stderr).not.toContain('wrong-token');
    const down = await writeConfig({ hub: { url: `http://127.0.0.1:${await closedPort()}`, token: TOKEN }, providers: [] });
    const gone = await cli(['models', '--config', down.file]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/unreachable \(ECONNREFUSED\): is it running\? check hub\.url in/);
  });
});

describe('what start says at info level', () => {
  it('says when it is live, with what it publishes and where to call; one line per finished call; no transitions', async () => {
    hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester', admin: true } }, ...fastHub });
    const { dir, file } = await writeConfig({ hub: { url: hub.url, token: TOKEN }, providers: [{ name: 'gpu', type: 'demo', model: 'demo', tokenDelayMs: 1 }], timing: fastTiming });
    const daemon = runCli(['start', '--config', file, '--state-dir', join(dir, 'state'), '--no-status']);
    await eventually(() => expect(daemon.output()).toContain('live on'), 15_000);
    expect(daemon.stdout()).toContain(`live on ${hub.url}: publishing 'gpu' (private: your token alone); callers POST ${hub.url}/v1/chat/completions with \\"model\\": \\"gpu\\"`);

    const call = (stream: boolean) =>
      fetch(`${hub!.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpu', stream, messages: [{ role: 'user', content: 'hi' }] }),
      }).then((response) => response.text());
    await call(false);
    await call(true);
    const lines = await eventually(() => {
      const calls = daemon.stdout().split('\n').filter((line) => line.includes('"msg":"call '));
      expect(calls).toHaveLength(2);
      return calls.map((line) => JSON.parse(line) as Record<string, unknown>);
    });
    expect(lines[0]).toEqual(expect.objectContaining({ level: 30, provider: 'gpu', outcome: 'done', task: expect.stringMatching(/^\S{8}$/), ms: expect.any(Number) }));
    expect(lines[0].msg).toMatch(/^call \S{8} on 'gpu': done in \d+ m?s$/);
    expect(lines[1]).toEqual(expect.objectContaining({ outcome: 'done', firstTokenMs: expect.any(Number) }));
    expect(lines[1].msg).toMatch(/^call \S{8} on 'gpu': done in .+, first token after \d+ ms$/);
    expect(daemon.stdout()).not.toContain('session →');
    expect(daemon.stdout()).not.toContain('provider:gpu →');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);

    const debug = runCli(['start', '--config', file, '--state-dir', join(dir, 'state'), '--no-status', '--log-level', 'debug']);
    await eventually(() => expect(debug.stdout()).toContain('session → connected.streaming.open'), 15_000);
    debug.child.kill('SIGTERM');
    expect(await debug.exited).toBe(0);
  });
});
