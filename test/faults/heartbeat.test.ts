// Heartbeats answered 404 (the hub forgot the session), 500, or never: only a 404 costs a register, and no task
// running meanwhile is lost.
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer, pause } from '../support/fault-stage.ts';

const stage = faultStage();
const reply = (content: string) => `You said: ${content}`;

describe('heartbeat faults', () => {
  it('registers again with the same session id when a heartbeat is answered 404, and the running task still gets its answer', async () => {
    let forget = false;
    const { hub, model } = await stage.start({ hub: { heartbeat: () => (forget ? ((forget = false), 404) : 200) }, model: { tokenDelayMs: 15 } });
    hub.send(infer('t-running', 'a b c d e f g h', true));
    await eventually(() => expect(model.requests).toHaveLength(1));
    forget = true;
    await eventually(() => expect(hub.registers).toHaveLength(2));
    expect(hub.registers[1].providerSessionId).toBe('script-session');
    await eventually(() => expect(hub.results.get('t-running')?.at(-1)).toMatchObject({ chunk: { done: true } }));
    await eventually(() => expect(hub.streamsOpened).toBe(2));
    await hub.waitForStream();
    hub.send(infer('t-later', 'later'));
    await eventually(() => expect(hub.results.get('t-later')).toHaveLength(1));
    stage.check({ 't-running': reply('a b c d e f g h'), 't-later': reply('later') });
  });

  it.each([500, 'hang'] as const)('keeps its session and its stream when heartbeats are answered %s', async (answer) => {
    const { hub, registrar } = await stage.start({ hub: { heartbeat: () => answer }, timing: { requestTimeoutMs: 100 } });
    hub.send(infer('t-1', 'first', true));
    await pause(400);
    hub.send(infer('t-2', 'second'));
    await eventually(() => expect(hub.results.get('t-2')).toHaveLength(1));
    expect(hub.registers).toHaveLength(1);
    expect(hub.streamsOpened).toBe(1);
    expect(hub.heartbeats).toBeGreaterThan(2);
    expect(registrar.logs.some((line) => /heartbeat/.test(line.msg) && line.level === 40)).toBe(true);
    stage.check({ 't-1': reply('first'), 't-2': reply('second') });
  });

  it('never has more than one heartbeat in flight against a hub that does not answer them', async () => {
    let inFlight = 0;
    let most = 0;
    const { hub } = await stage.start({
      hub: {
        heartbeat: () => {
          inFlight++;
          most = Math.max(most, inFlight);
          setTimeout(() => inFlight--, 300);
          return { delayMs: 300, then: 200 };
        },
      },
      timing: { heartbeatMs: 20, requestTimeoutMs: 1_000 },
    });
    await pause(400);
    expect(hub.heartbeats).toBeGreaterThanOrEqual(1);
    expect(most).toBe(1);
  });
});
