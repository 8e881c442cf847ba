// A hub that refuses the registrar (bad token, name taken) is retried for ever, loudly, without leaking the token.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.ts';
import { eventually, startDaemonAgainst, stopDaemon } from '../support/cluster.ts';
import { startScriptHub, type ScriptHub } from '../support/script-hub.ts';

const SECRET = 'sk-very-secret-token-4242';
let hub: ScriptHub | undefined;
let daemon: Daemon | undefined;

afterEach(async () => {
  await stopDaemon(daemon);
  await hub?.close();
  hub = daemon = undefined;
});

function capture() {
  const lines: { level: number; msg: string; reason?: string }[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      raw += chunk;
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, raw: () => raw };
}

describe('a hub that refuses the registrar', () => {
  it.each([
    [401, /the hub refused the token/],
    [409, /held by another live session/],
  ])('on %i logs an error with what to do, retries at the backoff cap, and never shows the token', async (status, hint) => {
    let refusals = 2;
    hub = await startScriptHub({ register: () => (refusals-- > 0 ? status : 201) });
    const log = capture();
    daemon = await startDaemonAgainst(hub.url, { token: SECRET, timing: { backoffCapMs: 100 }, logger: log.logger });
    await hub.waitForStream();
    const errors = log.lines.filter((line) => line.level >= 50);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0].reason).toMatch(hint);
    expect(hub.registers).toHaveLength(3);
    await eventually(() => expect(log.raw()).toContain('connected'));
    expect(log.raw()).not.toContain(SECRET);
  });
});
