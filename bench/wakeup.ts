// What this machine charges for waking an idle process, the part of the relay's added time to first token that no
// code of ours decides: the round trip of one small message to an echo process on 127.0.0.1, sent back to back, then
// after the echo process sat idle 2 ms (what a model that pauses before its first token does to the registrar and
// the hub). A relayed first token crosses two more such idle processes than a direct one.
import { createConnection } from 'node:net';
import { performance } from 'node:perf_hooks';
import { isMain, percentile, printTable, round, sleep, spawnNode, withProcesses, writeResult } from './support.ts';

const ECHO = `
const server = require('node:net').createServer((socket) => { socket.setNoDelay(true); socket.on('data', (bytes) => socket.write(bytes)); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

export interface WakeupResult {
  rounds: number;
  backToBack: { p50: number; p90: number };
  afterIdle: { idleMs: number; p50: number; p90: number };
  /** p50 after idle − p50 back to back: the cost of one wake-up of the echo process, and of this one. */
  addedByIdleP50: number;
}

export async function runWakeup(options: { rounds?: number; idleMs?: number } = {}): Promise<WakeupResult> {
  const rounds = options.rounds ?? 500;
  const idleMs = options.idleMs ?? 2;
  return withProcesses(async (track) => {
    const echo = track(spawnNode('wakeup-echo', ['-e', ECHO], { readFirstLine: true }));
    const port = Number(await echo.firstLine);
    const socket = createConnection({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const roundTrip = () =>
      new Promise<number>((resolve) => {
        const t0 = performance.now();
        socket.once('data', () => resolve(performance.now() - t0));
        socket.write('x');
      });
    const measure = async (gapMs: number) => {
      const times: number[] = [];
      for (let i = 0; i < rounds; i++) {
        if (gapMs > 0) await sleep(gapMs);
        times.push(await roundTrip());
      }
      return { p50: round(percentile(times, 50), 3), p90: round(percentile(times, 90), 3) };
    };
    await measure(0);
    const backToBack = await measure(0);
    const afterIdle = { idleMs, ...(await measure(idleMs)) };
    socket.destroy();
    const result: WakeupResult = { rounds, backToBack, afterIdle, addedByIdleP50: round(afterIdle.p50 - backToBack.p50, 3) };
    printTable(`wake-up: round trip of one byte to an echo process on 127.0.0.1, ${rounds} rounds each (ms)`, [
      { 'sent': 'back to back', p50: backToBack.p50, p90: backToBack.p90 },
      { 'sent': `after ${idleMs} ms idle`, p50: afterIdle.p50, p90: afterIdle.p90 },
      { 'sent': 'added by the idle gap', p50: result.addedByIdleP50, p90: round(afterIdle.p90 - backToBack.p90, 3) },
    ]);
    writeResult('wakeup', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runWakeup();
