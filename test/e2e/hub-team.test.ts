// The hub run for a team, as a process: tokens added and revoked while it runs (no restart), a broken tokens file
// that keeps the old tokens, SIGHUP, where it says it listens, TLS, and admin tokens kept out of `ps`.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { cli, killChildren, startHubCli } from '../support/cli.ts';

afterEach(() => killChildren());

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'llmr-hub-team-'));
}


async function statusWith(url: string, token: string): Promise<number> {
  return (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status;
}

describe('llm-registrar hub tokens', () => {
  it('add prints a token once and stores its hash (0600); list shows users, never tokens; revoke removes them', async () => {
    const file = join(await scratch(), 'tokens.json');
    const added = await cli(['hub', 'tokens', 'add', 'alice', '--tokens-file', file]);
    expect(added.code).toBe(0);
    const token = added.stdout.trim();
    expect(token).toMatch(/^llmr_\S{32}$/);
    expect(added.stderr).toContain('shown this once');
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(token);
    expect(text).toMatch(/"sha256:[0-9a-f]{64}"/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const admin = await cli(['hub', 'tokens', 'add', 'ops', '--admin', '--json', '--tokens-file', file]);
    expect(JSON.parse(admin.stdout)).toEqual({ user: 'ops', admin: true, token: expect.stringMatching(/^llmr_/) });
    const again = await cli(['hub', 'tokens', 'add', 'alice', '--tokens-file', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("'alice' already has a token");

    const list = await cli(['hub', 'tokens', 'list', '--json', '--tokens-file', file]);
    expect(JSON.parse(list.stdout)).toEqual([
      { user: 'alice', admin: false, created: expect.any(String) },
      { user: 'ops', admin: true, created: expect.any(String) },
    ]);
    const table = await cli(['hub', 'tokens', 'list', '--tokens-file', file]);
    expect(table.stdout).toMatch(/^USER +ADMIN +CREATED\nalice +no +\S+\nops +yes +\S+\n$/);
    expect(table.stdout + list.stdout).not.toContain(token);

    const typo = await cli(['hub', 'tokens', 'revoke', 'alcie', '--tokens-file', file]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain("no token for 'alcie'");
    expect(typo.stderr).toContain("did you mean 'alice'?");
    expect((await cli(['hub', 'tokens', 'revoke', 'alice', '--tokens-file', file])).code).toBe(0);
    expect(JSON.parse((await cli(['hub', 'tokens', 'list', '--json', '--tokens-file', file])).stdout).map((row: { user: string }) => row.user)).toEqual(['ops']);
  });

  it('migrate turns a clear-text file into hashes; the hub warns about a clear file and the tokens stay valid', async () => {
    const file = join(await scratch(), 'tokens.json');
    await writeFile(file, JSON.stringify({ 'old-clear-token': { user: 'bob' } }));
    const { hub, url } = await startHubCli(['--tokens-file', file]);
    await eventually(() => expect(hub.stdout()).toContain('keeps 1 tokens in clear'));
    expect(await statusWith(url, 'old-clear-token')).toBe(200);
    const migrated = await cli(['hub', 'tokens', 'migrate', '--tokens-file', file]);
    expect(migrated.code).toBe(0);
    expect(await readFile(file, 'utf8')).not.toContain('old-clear-token');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await statusWith(url, 'old-clear-token')).toBe(200);
  });
});

describe('a running hub follows its tokens file', () => {
  it('takes an added token and refuses a revoked one within a second, without a restart', async () => {
    const file = join(await scratch(), 'tokens.json');
    const ops = JSON.parse((await cli(['hub', 'tokens', 'add', 'ops', '--admin', '--json', '--tokens-file', file])).stdout).token as string;
    const { hub, url } = await startHubCli(['--tokens-file', file]);
    expect(await statusWith(url, ops)).toBe(200);

    const alice = (await cli(['hub', 'tokens', 'add', 'alice', '--tokens-file', file])).stdout.trim();
    const addedAt = Date.now();
    await eventually(async () => expect(await statusWith(url, alice)).toBe(200), 1_000);
    expect(Date.now() - addedAt).toBeLessThan(1_000);

    await cli(['hub', 'tokens', 'revoke', 'alice', '--tokens-file', file]);
    const revokedAt = Date.now();
    await eventually(async () => expect(await statusWith(url, alice)).toBe(401), 1_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(await statusWith(url, ops)).toBe(200);
    expect(hub.stdout()).toContain('tokens file reloaded (file changed)');
    expect(hub.output()).not.toContain(alice);
    expect(hub.output()).not.toContain(ops);
  });

  it('keeps the old tokens when the file breaks, says why, and reloads on SIGHUP once it is fixed', async () => {
    const file = join(await scratch(), 'tokens.json');
    const ops = JSON.parse((await cli(['hub', 'tokens', 'add', 'ops', '--admin', '--json', '--tokens-file', file])).stdout).token as string;
    const good = await readFile(file, 'utf8');
    const { hub, url } = await startHubCli(['--tokens-file', file]);
    await writeFile(file, '{"sha256:broken": ');
    await eventually(() => expect(hub.stdout()).toContain('tokens file not reloaded, the tokens loaded before stay in force'));
    expect(await statusWith(url, ops)).toBe(200);

    hub.child.kill('SIGHUP');
    await eventually(() => expect(hub.stdout()).toMatch(/"why":"SIGHUP".*not reloaded/));
    expect(hub.child.exitCode).toBeNull();
    await writeFile(file, good.replace('"user": "ops"', '"user": "ops2"'));
    hub.child.kill('SIGHUP');
    await eventually(() => expect(hub.stdout()).toMatch(/tokens file reloaded \((SIGHUP|file changed)\)/));
    expect(await statusWith(url, ops)).toBe(200);
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
  });
});

describe('where the hub listens', () => {
  it('on loopback says so; on every interface names an address to call, never 0.0.0.0, and warns about plain HTTP', async () => {
    const token = 'a-team-admin-token-1234';
    const local = await startHubCli([], { LLM_REGISTRAR_HUB_ADMIN_TOKEN: token });
    expect(local.hub.stdout()).toContain('loopback only, this machine alone can call it');
    local.hub.child.kill('SIGTERM');
    expect(await local.hub.exited).toBe(0);
    expect(local.hub.stdout()).not.toContain('plain HTTP');

    const all = await startHubCli(['--host', '0.0.0.0'], { LLM_REGISTRAR_HUB_ADMIN_TOKEN: token });
    const line = all.hub.stdout().split('\n').find((text) => text.includes('hub listening on all interfaces'));
    expect(line, all.hub.stdout()).toBeDefined();
    expect(line).not.toMatch(/0\.0\.0\.0:\d/);
    expect(all.url).not.toContain('0.0.0.0');
    // The warning is its own line, written just after: the pipe may hand it over in a later read.
    await eventually(() => expect(all.hub.stdout()).toContain('plain HTTP: tokens and prompts cross the network in clear'));
    expect(all.hub.stdout()).toContain('--tls-cert FILE --tls-key FILE');
    expect(all.hub.output()).not.toContain(token);
  });

  it('serves HTTPS with --tls-cert and --tls-key', async () => {
    const dir = await scratch();
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, 'tls-admin-token\n', { mode: 0o600 });
    const { hub, url } = await startHubCli(['--tls-cert', cert, '--tls-key', key, '--token-file', tokenFile]);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = await readFile(cert);
    const status = await new Promise<number>((resolve, reject) => {
      request(`${url}/v1/models`, { ca, headers: { authorization: 'Bearer tls-admin-token' } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(200);
    expect(hub.output()).not.toContain('tls-admin-token');
  });
});

describe('the admin token', () => {
  it('--token warns that it shows in ps; a group-readable --token-file is flagged', async () => {
    const shown = await startHubCli(['--token', 'visible-in-ps-token']);
    expect(shown.hub.stdout()).toContain('--token shows the admin token to every user of this machine (`ps`)');
    expect(shown.hub.stdout()).not.toContain('visible-in-ps-token');
    shown.hub.child.kill('SIGTERM');

    const file = join(await scratch(), 'admin-token');
    await writeFile(file, 'file-admin-token\n', { mode: 0o644 });
    const fromFile = await startHubCli(['--token-file', file]);
    expect(fromFile.hub.stdout()).toContain('is readable by other users (mode 644): chmod 600 it');
    expect(await statusWith(fromFile.url, 'file-admin-token')).toBe(200);
  });

  it('with no token anywhere exits 2 and says where one can come from', async () => {
    const { code, stderr } = await cli(['hub', '--port', '0'], { LLM_REGISTRAR_HUB_TOKEN: undefined, LLM_REGISTRAR_HUB_ADMIN_TOKEN: undefined });
    expect(code).toBe(2);
    expect(stderr).toContain('--tokens-file FILE');
    expect(stderr).toContain('LLM_REGISTRAR_HUB_ADMIN_TOKEN');
  });
});
