// Frames the registrar cannot run still get exactly one answer, so no caller waits for a timeout.
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.ts';
import { eventually, startDaemonAgainst, stopDaemon } from '../support/cluster.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

let hub: ScriptHub | undefined;
let daemon: Daemon | undefined;

afterEach(async () => {
  await stopDaemon(daemon);
  await hub?.close();
  hub = daemon = undefined;
});

const daemonAgainst = (scriptHub: ScriptHub) => startDaemonAgainst(scriptHub.url);

const infer = (taskId: string, llmName: string) => ({ kind: 'infer', taskId, llmName, streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] } });

describe('task frames', () => {
  it("answers a frame for a provider it does not publish with `provider '<name>' not registered locally`", async () => {
    hub = await startScriptHub();
    daemon = await daemonAgainst(hub);
    await hub.waitForStream();
    hub.send(infer('t-unknown', 'nobody'));
    await eventually(() => expect(hub!.results.get('t-unknown')).toEqual([{ error: "provider 'nobody' not registered locally" }]));
  });

  it('answers a frame that fails the schema but names its task, and survives one that names none', async () => {
    hub = await startScriptHub();
    daemon = await daemonAgainst(hub);
    await hub.waitForStream();
    hub.send({ kind: 'infer', taskId: 't-bad', llmName: 'demo', streaming: 'yes', request: { messages: [] } });
    hub.send('{"kind":"infer","taskId":"t-trunc","llmN');
    hub.send('not json at all');
    hub.send({ kind: 'teleport', taskId: 't-kind' });
    hub.send(infer('t-after', 'demo'));
    await eventually(() => expect(hub!.results.get('t-after')?.[0]).toMatchObject({ status: 200 }));
    expect(hub.results.get('t-bad')).toEqual([{ error: 'malformed task frame: streaming: Invalid type: Expected boolean but received "yes"' }]);
    expect(hub.results.get('t-trunc')?.[0]).toMatchObject({ error: expect.stringMatching(/^malformed task frame: not valid JSON/) });
    expect(hub.results.get('t-kind')?.[0]).toMatchObject({ error: expect.stringMatching(/^malformed task frame/) });
  });

  it('runs a frame re-sent after a reconnect once, and answers it once', async () => {
    hub = await startScriptHub();
    daemon = await daemonAgainst(hub);
    await hub.waitForStream();
    hub.send(infer('t-twice', 'demo'));
    await eventually(() => expect(hub!.results.get('t-twice')).toHaveLength(1));
    hub.cut();
    await eventually(() => expect(hub!.streamsOpened).toBe(2));
    await hub.waitForStream();
    hub.send(infer('t-twice', 'demo'));
    hub.send(infer('t-next', 'demo'));
    await eventually(() => expect(hub!.results.get('t-next')).toHaveLength(1));
    expect(hub.results.get('t-twice')).toHaveLength(1);
  });

  it('ignores events that are not tasks', async () => {
    hub = await startScriptHub();
    daemon = await daemonAgainst(hub);
    await hub.waitForStream();
    hub.send({ hello: 'world' }, 'greeting');
    hub.write(': just a comment\n\n');
    hub.send(infer('t-ok', 'demo'));
    await eventually(() => expect(hub!.results.get('t-ok')).toHaveLength(1));
    expect([...hub.results.keys()]).toEqual(['t-ok']);
  });
});
