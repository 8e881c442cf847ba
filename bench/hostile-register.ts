// Hostile registers (issue 9): one user sends 20,000 registers, each a new session with the largest rows the hub
// takes (a 1 KiB description, an agent with ~15 KiB of defaultParams), while a normal caller calls a real registrar's
// LLM. Prints the hub's RSS and the call p50 before, during (per window) and after retention collected the sessions.
// Targets: call p50 under 2× its idle value throughout; RSS back under 150 MB after retention.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  authHeaders,
  isMain,
  openAiProvider,
  percentile,
  printTable,
  request,
  round,
  rssMb,
  sleep,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  timedChat,
  waitFor,
  withProcesses,
  writeResult,
} from './support.ts';

const REGISTERS = Number(process.env.BENCH_REGISTERS ?? 20_000);
const CONCURRENCY = 4;
const WATCHDOG_MS = 2_000;
const RETENTION_MS = 6_000;
const WINDOW_MS = 2_000;
const HOSTILE = 'hostile-token-0123456789';
const SETTLE_SAMPLES = 10;

function registerBody(i: number): string {
  return JSON.stringify({
    providers: [{ name: `h-${i}`, type: 'openai', model: 'm', description: 'd'.repeat(1000), visibility: 'public', initialStatus: 'active' }],
    agents: [{ name: `h-${i}-agent`, llmName: `h-${i}`, visibility: 'public', defaultParams: { pad: 'p'.repeat(15_000) } }],
  });
}

export interface HostileRegisterResult {
  registers: number;
  seconds: number;
  statuses: Record<string, number>;
  idleP50Ms: number;
  windows: Array<{ atS: number; callP50Ms: number; calls: number; rssMb: number }>;
  worstWindowP50Ms: number;
  peakRssMb: number;
  idleRssMb: number;
  afterRetentionRssMb: number;
  /** The lowest RSS over the 20 s after that. */
  settledRssMb: number;
  rowsAfterRetention: number;
}

export async function hostileRegister(): Promise<HostileRegisterResult> {
  const dir = mkdtempSync(join(tmpdir(), 'llmr-hostile-'));
  const tokensFile = join(dir, 'tokens.json');
  writeFileSync(tokensFile, JSON.stringify({ [HOSTILE]: { user: 'mallory' } }));
  return withProcesses(async (track) => {
    const hub = track(
      await startHubProcess('hostile-hub', 0, ['--tokens-file', tokensFile, '--watchdog-ms', String(WATCHDOG_MS), '--retention-ms', String(RETENTION_MS), '--state-dir', join(dir, 'state')]),
    );
    const model = track(await startModelServer('hostile-model', { tokens: 5, tokenDelayMs: 0 }));
    track(await startRegistrarProcess('hostile-steady-registrar', hub.url, [openAiProvider('steady', `${model.url}/v1`)], { timing: { heartbeatMs: 500 } }));

    for (let i = 0; i < 50; i++) await timedChat(hub.url, 'steady');
    const idle: number[] = [];
    for (let i = 0; i < 300; i++) idle.push(await timedChat(hub.url, 'steady'));
    const idleP50Ms = percentile(idle, 50);
    const idleRssMb = round(rssMb(hub.pid), 1);

    const statuses: Record<string, number> = {};
    let next = 0;
    let storming = true;
    const started = performance.now();
    const storm = Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REGISTERS) {
          const reply = await request(`${hub.url}/api/v1/llms/_provider-register`, {
            method: 'POST',
            headers: { authorization: `Bearer ${HOSTILE}`, 'content-type': 'application/json' },
            body: registerBody(next++),
            sockets: CONCURRENCY + 2,
          });
          statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
        }
      }),
    ).finally(() => (storming = false));

    const windows: HostileRegisterResult['windows'] = [];
    let peakRssMb = idleRssMb;
    while (storming) {
      const windowStart = performance.now();
      const calls: number[] = [];
      while (storming && performance.now() - windowStart < WINDOW_MS) calls.push(await timedChat(hub.url, 'steady'));
      const rss = round(rssMb(hub.pid), 1);
      peakRssMb = Math.max(peakRssMb, rss);
      windows.push({ atS: round((performance.now() - started) / 1000, 1), callP50Ms: round(percentile(calls, 50), 2), calls: calls.length, rssMb: rss });
    }
    await storm;
    const seconds = (performance.now() - started) / 1000;

    // Every hostile session is past its retention once RETENTION_MS has gone by after the last register.
    await sleep(RETENTION_MS + 1_500);
    const listed = async () => (JSON.parse((await request(`${hub.url}/api/v1/llms`, { headers: authHeaders })).body) as unknown[]).length;
    await waitFor(async () => (await listed()) === 1, 10_000, 'retention to collect the hostile rows');
    const rowsAfterRetention = await listed();
    const afterRetentionRssMb = round(rssMb(hub.pid), 1);
    // V8 gives pages back to the system only as its memory reducer runs GCs on a quiet heap: sample a while longer.
    let settledRssMb = afterRetentionRssMb;
    for (let i = 0; i < SETTLE_SAMPLES; i++) {
      await sleep(2_000);
      await timedChat(hub.url, 'steady');
      settledRssMb = Math.min(settledRssMb, round(rssMb(hub.pid), 1));
    }

    const worstWindowP50Ms = Math.max(...windows.map((w) => w.callP50Ms));
    return { registers: REGISTERS, seconds: round(seconds, 1), statuses, idleP50Ms: round(idleP50Ms, 2), windows, worstWindowP50Ms, peakRssMb, idleRssMb, afterRetentionRssMb, settledRssMb, rowsAfterRetention };
  });
}

if (isMain(import.meta.url)) {
  const result = await hostileRegister();
  printTable(`hostile registers: ${result.registers} in ${result.seconds} s (${round(result.registers / result.seconds, 0)}/s), answers ${JSON.stringify(result.statuses)}`, result.windows.map((w) => ({ 's': w.atS, 'call p50 ms': w.callP50Ms, calls: w.calls, 'hub RSS MB': w.rssMb })));
  printTable('against the targets', [
    { figure: 'call p50, idle', value: `${result.idleP50Ms} ms`, target: '' },
    { figure: 'call p50, worst window during the registers', value: `${result.worstWindowP50Ms} ms (${round(result.worstWindowP50Ms / result.idleP50Ms, 2)}×)`, target: '< 2× idle' },
    { figure: 'hub RSS idle / peak', value: `${round(result.idleRssMb, 1)} / ${round(result.peakRssMb, 1)} MB`, target: '' },
    { figure: 'hub RSS after retention / 20 s later (lowest)', value: `${result.afterRetentionRssMb} / ${result.settledRssMb} MB (${result.rowsAfterRetention} row left)`, target: '< 150 MB' },
  ]);
  process.stdout.write(`\n${writeResult('hostile-register', result)}\n`);
}
