// Leaving (SPEC.md §6), as a user stops the daemon: SIGTERM drains, and once its last result is posted the registrar
// takes leave of the hub, so its rows go inactive at once; a base hub's 404 changes nothing but the log.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fastTiming, TOKEN } from '../support/cluster.ts';
import { killChildren, runCli } from '../support/cli.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

let hub: ScriptHub | undefined;

afterEach(async () => {
  killChildren();
  await hub?.close();
  hub = undefined;
});

async function startRegistrar(hubUrl: string) {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-leave-'));
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ hub: { url: hubUrl, token: TOKEN }, providers: [{ name: 'demo', type: 'demo', model: 'demo' }], timing: fastTiming }));
  return runCli(['start', '--config', config, '--state-dir', join(dir, 'state'), '--no-status']);
}

describe('leaving on SIGTERM', () => {
  it('takes leave of the hub with its session id once drained, then exits 0', async () => {
    hub = await startScriptHub({ leave: () => 200 }, 'leave-session');
    const daemon = await startRegistrar(hub.url);
    await hub.waitForStream();
    const signalled = Date.now();
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    const exited = Date.now();
    expect(hub.leaves.map((leave) => leave.body)).toEqual([{ providerSessionId: 'leave-session' }]);
    console.log(`SIGTERM → leave on the hub: ${hub.leaves[0].at - signalled} ms; → exit: ${exited - signalled} ms`);
  });

  it('exits 0 just as soon against a base hub that answers the leave 404', async () => {
    hub = await startScriptHub({}, 'base-session');
    const daemon = await startRegistrar(hub.url);
    await hub.waitForStream();
    const signalled = Date.now();
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(hub.leaves).toHaveLength(1);
    expect(daemon.output()).toContain('does not know _provider-leave');
    console.log(`SIGTERM → exit against a base hub: ${Date.now() - signalled} ms`);
  });
});
