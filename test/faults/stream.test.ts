// The task stream misbehaving: refused (401, 404, 500), cut mid-frame, left open but silent, never answered; and a
// frame re-sent on the next stream. The session comes back on its own each time and no task is lost or run twice.
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer, pause } from '../support/fault-stage.ts';
import type { Answer } from '../support/script-hub.ts';

const stage = faultStage();

/** A stage whose hub answers the stream request with `answers` in turn, then opens it. */
function refusing(answers: Answer[], options: Parameters<typeof stage.start>[0] = {}) {
  const queue = [...answers];
  return stage.start({ ...options, hub: { stream: () => queue.shift() ?? 200, ...options.hub } });
}

describe('stream refused', () => {
  it.each([401, 500, 503])('backs off and reconnects when the stream is answered %i, keeping its session', async (status) => {
    const { hub, registrar } = await refusing([status, status]);
    expect(hub.streamsOpened).toBe(1);
    expect(hub.registers).toHaveLength(1);
    hub.send(infer('t-after', 'after refusals'));
    await eventually(() => expect(hub.results.get('t-after')).toHaveLength(1));
    stage.check({ 't-after': 'You said: after refusals' });
    expect(registrar.logs.some((line) => line.msg === 'task stream refused' && line.status === status)).toBe(true);
  });

  it('registers again, with the same session id, when the stream is answered 404', async () => {
    const { hub } = await refusing([404]);
    expect(hub.registers.map((r) => r.providerSessionId)).toEqual([undefined, 'script-session']);
    hub.send(infer('t-404', 'known again'));
    await eventually(() => expect(hub.results.get('t-404')).toHaveLength(1));
    stage.check({ 't-404': 'You said: known again' });
  });
});

describe('stream broken', () => {
  it('drops a frame cut mid-way, reconnects, and runs the re-sent frame once', async () => {
    const { hub, registrar } = await stage.start();
    hub.write('event: task\ndata: {"kind":"infer","taskId":"t-cut","llmName":"gpu","stre');
    await pause(20);
    hub.cut();
    await eventually(() => expect(hub.streamsOpened).toBe(2));
    await hub.waitForStream();
    expect(registrar.received.size).toBe(0);
    hub.send(infer('t-cut', 'whole at last', true));
    await eventually(() => expect(hub.results.get('t-cut')?.at(-1)).toMatchObject({ chunk: { done: true } }));
    stage.check({ 't-cut': 'You said: whole at last' });
  });

  it('closes a stream that stays open but silent past streamIdleMs, and opens a new one', async () => {
    const { hub, registrar } = await stage.start({ hub: { keepAliveMs: 0 }, timing: { streamIdleMs: 150 } });
    await eventually(() => expect(hub.streamsOpened).toBeGreaterThanOrEqual(2));
    expect(registrar.logs.some((line) => line.actor === 'session' && /silent for 150 ms/.test(String(line.reason)))).toBe(true);
    await hub.waitForStream();
    hub.send(infer('t-zombie', 'after the zombie'));
    await eventually(() => expect(hub.results.get('t-zombie')).toHaveLength(1));
    stage.check({ 't-zombie': 'You said: after the zombie' });
  });

  it('keeps a stream whose keep-alive comments arrive', async () => {
    const { hub } = await stage.start({ hub: { keepAliveMs: 20 }, timing: { streamIdleMs: 100 } });
    await pause(350);
    expect(hub.streamsOpened).toBe(1);
  });

  it('gives up on a stream request whose answer never comes, and opens a new one', async () => {
    const { hub, registrar } = await refusing(['hang'], { timing: { streamIdleMs: 150 } });
    expect(hub.streamsOpened).toBe(1);
    expect(registrar.logs.some((line) => line.actor === 'session' && /did not answer the task stream request within 150 ms/.test(String(line.reason)))).toBe(true);
    hub.send(infer('t-hang', 'after the hang'));
    await eventually(() => expect(hub.results.get('t-hang')).toHaveLength(1));
    stage.check({ 't-hang': 'You said: after the hang' });
  });
});

describe('frames delivered twice', () => {
  it('runs a frame re-sent on the next stream while it is still running once, and answers it once', async () => {
    const { hub, model } = await stage.start({ model: { tokenDelayMs: 20 } });
    hub.send(infer('t-twice', 'one two three four five six', true));
    await eventually(() => expect(model.requests).toHaveLength(1));
    hub.cut();
    await eventually(() => expect(hub.streamsOpened).toBe(2));
    await hub.waitForStream();
    hub.send(infer('t-twice', 'one two three four five six', true));
    await eventually(() => expect(hub.results.get('t-twice')?.at(-1)).toMatchObject({ chunk: { done: true } }));
    // And once more after it finished: it is remembered.
    hub.send(infer('t-twice', 'one two three four five six', true));
    hub.send(infer('t-next', 'next'));
    await eventually(() => expect(hub.results.get('t-next')).toHaveLength(1));
    expect(model.requests).toHaveLength(2);
    stage.check({ 't-twice': 'You said: one two three four five six', 't-next': 'You said: next' });
  });
});
