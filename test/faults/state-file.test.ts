// A state file that cannot be trusted (corrupt, truncated, of another format version) is set aside with a warning
// and the daemon starts fresh; a state directory that cannot be written is logged once and the daemon runs on.
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer } from '../support/fault-stage.ts';
import { ERROR, WARN, startRegistrar, type Registrar } from '../support/registrar.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

const stage = faultStage();

const VALID = {
  version: 1,
  savedAt: '2026-01-01T00:00:00.000Z',
  facts: { sessionId: 'old-session', providers: { demo: 'active' }, inFlight: [] },
};

/** A daemon on `stateDir` against a fresh script hub, cleaned up after the test. */
async function daemonOn(stateDir: string): Promise<{ hub: ScriptHub; registrar: Registrar }> {
  const hub = await startScriptHub({ keepAliveMs: 50 });
  const registrar = await startRegistrar({ hubUrl: hub.url, providers: [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }], stateDir });
  stage.cleanup(async () => {
    expect(registrar.troubles()).toEqual([]);
    await registrar.stop();
    await hub.close();
  });
  await hub.waitForStream();
  hub.send(infer('t-1', 'still works', false, 'demo'));
  await eventually(() => expect(hub.results.get('t-1')?.[0]).toMatchObject({ status: 200 }));
  return { hub, registrar };
}

async function stateDirWith(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-state-'));
  stage.cleanup(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'state.json'), content, { mode: 0o600 });
  return dir;
}

describe('state file that cannot be trusted', () => {
  it.each([
    ['a corrupt file', 'ʕ•ᴥ•ʔ not json at all', /corrupt or truncated/],
    ['a truncated file', JSON.stringify(VALID).slice(0, 40), /corrupt or truncated/],
    ['a file from an older version', JSON.stringify({ ...VALID, version: 0 }), /format version 0/],
    ['a file from a newer version', JSON.stringify({ ...VALID, version: 99 }), /format version 99/],
    ['a file of this version with unexpected content', JSON.stringify({ ...VALID, facts: { inFlight: 'many' } }), /unexpected content/],
  ])('sets %s aside with a warning, starts fresh and serves', async (_what, content, reason) => {
    const dir = await stateDirWith(content);
    const { hub, registrar } = await daemonOn(dir);
    expect(hub.registers[0].providerSessionId).toBeUndefined();
    const warning = registrar.logs.find((line) => line.level === WARN && /state file set aside/.test(line.msg));
    expect(warning?.msg).toMatch(reason);
    const files = await readdir(dir);
    expect(files.some((name) => name.startsWith('state.json.bad-'))).toBe(true);
    await eventually(async () => expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).facts.sessionId).toBe('script-session'));
  });

  it('keeps the session id of a valid file', async () => {
    const dir = await stateDirWith(JSON.stringify(VALID));
    const { hub } = await daemonOn(dir);
    expect(hub.registers[0].providerSessionId).toBe('old-session');
  });
});

describe('state directory that cannot be written', () => {
  it('logs the failure once and runs on', async () => {
    const base = await mkdtemp(join(tmpdir(), 'llmr-state-'));
    stage.cleanup(() => rm(base, { recursive: true, force: true }));
    // A directory under a regular file cannot be created, whoever we are (root ignores permission bits).
    await writeFile(join(base, 'a-file'), '');
    const { hub, registrar } = await daemonOn(join(base, 'a-file', 'state'));
    hub.send(infer('t-2', 'and again', false, 'demo'));
    await eventually(() => expect(hub.results.get('t-2')).toHaveLength(1));
    const errors = () => registrar.logs.filter((line) => line.level === ERROR && /state file cannot be written/.test(line.msg));
    await eventually(() => expect(errors()).toHaveLength(1));
    hub.send(infer('t-3', 'once more', false, 'demo'));
    await eventually(() => expect(hub.results.get('t-3')).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors()).toHaveLength(1);
    expect(errors()[0].msg).toMatch(/ENOTDIR/);
  });

  it('runs on when the state file is a directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-state-'));
    stage.cleanup(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'state.json'));
    const { registrar } = await daemonOn(dir);
    expect(registrar.logs.some((line) => line.level >= WARN && /state file/.test(line.msg))).toBe(true);
  });
});
