// The conventions every command keeps, checked on the real command as a process: exit codes (0 ok, 1 failed,
// 2 usage), the error last and short with a pointer to --help, did-you-mean, --version, help <command>, completion.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { colourWanted } from '../../src/commands/palette.ts';
import { cli, killChildren } from '../support/cli.ts';

afterEach(() => killChildren());

async function configFile(config: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-conv-'));
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify(config));
  return file;
}

describe('usage errors', () => {
  it('names the nearest command for a typo, exits 2, and points at --help instead of printing it', async () => {
    const { code, stdout, stderr } = await cli(['strat']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe("llm-registrar: unknown command 'strat' (did you mean 'start'?)\nRun `llm-registrar --help` for the list of commands.\n");
  });

  it('names the nearest flag for a mistyped one, in two lines, the error first', async () => {
    const { code, stderr } = await cli(['start', '--stauts-port', '0']);
    expect(code).toBe(2);
    expect(stderr).toBe('llm-registrar start: unknown option --stauts-port (did you mean --status-port?)\nSee `llm-registrar start --help`.\n');
  });

  it.each([
    [['up', '--port'], 'llm-registrar up: --port needs a value'],
    [['status', '--json=yes'], 'llm-registrar status: --json takes no value'],
    [['status', 'extra'], "llm-registrar status: takes no arguments, but was given 'extra'"],
    [['start', '--log-level', 'loud'], "llm-registrar start: --log-level must be one of fatal, error, warn, info, debug, trace, silent, not 'loud'"],
    [['up', '--log-level', 'debgu'], "not 'debgu' (did you mean 'debug'?)"],
    [['hub', '--port', 'x', '--token-file', '/nonexistent'], "llm-registrar hub: --port must be a port number from 0 to 65535, not 'x'"],
    [['completion', 'tcsh'], "llm-registrar completion: no completion for 'tcsh': bash, zsh or fish"],
    [['install-service', '--platform', 'win32'], "--platform must be linux or darwin, not 'win32'"],
  ])('%j exits 2: %s', async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr.trim().split('\n')).toHaveLength(2);
  });

  it('refuses LOG_LEVEL=loud as clearly as --log-level loud', async () => {
    const file = await configFile({ hub: { url: 'http://127.0.0.1:9', token: 't' }, providers: [] });
    const { code, stderr } = await cli(['start', '--config', file, '--no-status'], { LOG_LEVEL: 'loud' });
    expect(code).toBe(2);
    expect(stderr).toContain("LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not 'loud'");
  });

  it('exits 2 with no command at all, saying where the list is', async () => {
    const { code, stderr } = await cli([]);
    expect(code).toBe(2);
    expect(stderr).toContain('llm-registrar --help');
  });
});

describe('up on a port that is taken', () => {
  it('exits 1 and shows the npm form that picks other ports', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const home = await mkdtemp(join(tmpdir(), 'llmr-up-'));
      const { port } = blocker.address() as { port: number };
      const { code, stderr } = await cli(['up', '--port', String(port), '--state-dir', join(home, 'state')], { HOME: home, XDG_STATE_HOME: home });
      expect(code).toBe(1);
      expect(stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
      expect(stderr).toContain('npm start -- --port N --status-port M');
    } finally {
      blocker.close();
    }
  });
});

describe('version and help', () => {
  it('--version and version print the version of package.json; --json parses', async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['version'], ['-V']]) {
      const { code, stdout } = await cli(args);
      expect(code).toBe(0);
      expect(stdout).toBe(`llm-registrar ${version} (node ${process.versions.node})\n`);
    }
    const json = await cli(['version', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ version, node: process.versions.node });
  });

  it('help <command> prints that command, not the top-level help; help for an unknown one exits 2', async () => {
    const { code, stdout } = await cli(['help', 'start']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: llm-registrar start /);
    expect((await cli(['help', 'hub', 'tokens'])).stdout).toMatch(/^Usage: llm-registrar hub tokens add NAME/);
    expect((await cli(['help', 'ls'])).stdout).toMatch(/^Usage: llm-registrar models/);
    const unknown = await cli(['help', 'strat']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("did you mean 'start'?");
  });

  it('the main help shows how to pass options through npm start', async () => {
    expect((await cli(['--help'])).stdout).toContain('npm start -- --port 4858 --status-port 4859');
  });
});

describe('check-config', () => {
  it('takes the file as --config too, and prints --json', async () => {
    const file = await configFile({ hub: { url: 'http://hub:4848', token: 't' }, providers: [{ name: 'gpu', type: 'vllm', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm', visibility: 'public' }] });
    const text = await cli(['check-config', '--config', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${file}: valid`);
    expect(text.stderr).toContain('providers[0].type: "vllm" is read as "openai"');
    const json = await cli(['check-config', '--config', file, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      path: file,
      valid: true,
      notes: [expect.stringContaining('"vllm" is read as "openai"')],
      hub: 'http://hub:4848',
      published: [{ name: 'gpu', type: 'openai', visibility: 'public' }],
    });
  });

  it('exits 1 on a config with a typo, naming the key it meant', async () => {
    const file = await configFile({ hub: { url: 'http://hub:4848', token: 't' }, providers: [{ name: 'gpu', type: 'demo', model: 'demo', maxConcurency: 8 }] });
    const { code, stderr } = await cli(['check-config', file]);
    expect(code).toBe(1);
    expect(stderr).toContain('providers[0].maxConcurency: Unknown key (did you mean "maxConcurrency"?)');
    const json = await cli(['check-config', file, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ path: file, valid: false, problems: [expect.stringContaining('maxConcurency')] });
  });

  it('exits 2 when given two different files', async () => {
    const { code, stderr } = await cli(['check-config', '/a.json', '--config', '/b.json']);
    expect(code).toBe(2);
    expect(stderr).toContain('name one');
  });
});

describe('completion', () => {
  it('bash completes commands, a command\'s flags, and the hub tokens actions', async () => {
    const script = (await cli(['completion', 'bash'])).stdout;
    const complete = async (words: string[]) => {
      const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _llm_registrar; echo "\${COMPREPLY[*]}"`;
      const { stdout } = await promisify(execFile)('bash', ['-c', program]);
      return stdout.trim().split(' ');
    };
    expect(await complete(['llm-registrar', 'st'])).toEqual(['start', 'status']);
    expect(await complete(['llm-registrar', 'start', '--sta'])).toEqual(['--state-dir', '--status-port']);
    expect(await complete(['llm-registrar', 'hub', 'tokens', 'r'])).toEqual(['revoke']);
    expect(await complete(['llm-registrar', 'ls', '--j'])).toEqual(['--json']);
  });

  it.each(['zsh', 'fish'])('%s gets a script naming every command', async (shell) => {
    const { code, stdout } = await cli(['completion', shell]);
    expect(code).toBe(0);
    for (const name of ['up', 'start', 'hub', 'models', 'ls', 'status', 'check-config', 'install-service', 'completion']) expect(stdout).toContain(name);
    const binary = `/usr/bin/${shell}`;
    if (existsSync(binary)) await promisify(execFile)(binary, shell === 'zsh' ? ['-n', '-c', stdout] : ['--no-execute', '-c', stdout]);
  });
});

describe('NO_COLOR', () => {
  it('turns colour off even on a terminal; without it a terminal gets colour', () => {
    const before = process.env.NO_COLOR;
    try {
      process.env.NO_COLOR = '1';
      expect(colourWanted({ isTTY: true })).toBe(false);
      delete process.env.NO_COLOR;
      expect(colourWanted({ isTTY: true })).toBe(true);
      expect(colourWanted({ isTTY: false })).toBe(false);
    } finally {
      if (before === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = before;
    }
  });
});
