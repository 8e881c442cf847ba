// System calls per relayed call, in the hub and in the registrar (strace -c -f attached to each): a figure the
// machine's load does not move, where on this VM a socket write that wakes another process costs more than the
// JavaScript around it. Plain calls back to back, plain calls `gapMs` apart (the state file's writes show), and a
// stream of 50 tokens 1 ms apart (per token). `node --import tsx bench/syscalls.ts` (needs strace).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { timedChat, timedStream, sleep } from './support/caller.ts';
import { openAiProvider, startHubProcess, startModelServer, startRegistrarProcess, withProcesses, type Proc } from './support/processes.ts';
import { isMain, printTable, RESULTS, round, writeResult } from './support/report.ts';

const SHOWN = ['writev', 'write', 'read', 'epoll_pwait', 'futex', 'fdatasync'];

type Counts = Record<string, number>;

/** The calls of each syscall in an `strace -c` summary. */
function summary(path: string): Counts {
  const counts: Counts = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    const name = fields.at(-1);
    if (fields.length < 5 || name === undefined || !/^[a-z_0-9]+$/.test(name) || name === 'total') continue;
    // "% time  seconds  usecs/call  calls  [errors]  syscall"
    const count = Number(fields[3]);
    if (Number.isFinite(count)) counts[name] = count;
  }
  return counts;
}

async function traced(procs: Proc[], label: string, run: () => Promise<void>): Promise<Counts[]> {
  const files = procs.map((proc) => join(RESULTS, 'logs', `strace-${label}-${proc.name}.txt`));
  const tracers = procs.map((proc, i) => spawn('strace', ['-c', '-f', '-p', String(proc.pid), '-o', files[i]], { stdio: 'ignore' }));
  await sleep(500);
  await run();
  const exited = tracers.map((tracer) => new Promise((resolve) => tracer.once('exit', resolve)));
  for (const tracer of tracers) tracer.kill('SIGINT');
  await Promise.all(exited);
  return files.map(summary);
}

export async function runSyscalls(options: { calls?: number; gapMs?: number; streams?: number } = {}) {
  const calls = options.calls ?? 300;
  const gapMs = options.gapMs ?? 100;
  const streams = options.streams ?? 40;
  const tokens = 50;
  return withProcesses(async (track) => {
    const plainModel = track(await startModelServer('syscalls-model', { tokens: 8, tokenDelayMs: 0 }));
    const streamModel = track(await startModelServer('syscalls-stream-model', { tokens, tokenDelayMs: 1 }));
    const hub = track(await startHubProcess('syscalls-hub'));
    const registrar = track(await startRegistrarProcess('syscalls-registrar', hub.url, [openAiProvider('plain', `${plainModel.url}/v1`), openAiProvider('stream', `${streamModel.url}/v1`)]));
    for (let i = 0; i < 100; i++) await timedChat(hub.url, 'plain');
    for (let i = 0; i < 10; i++) await timedStream(hub.url, 'stream');
    const procs = [hub, registrar];
    const plain = await traced(procs, 'plain', async () => {
      for (let i = 0; i < calls; i++) await timedChat(hub.url, 'plain');
    });
    const gapCalls = Math.max(1, Math.floor(calls / 10));
    const apart = await traced(procs, 'apart', async () => {
      for (let i = 0; i < gapCalls; i++) {
        await timedChat(hub.url, 'plain');
        await sleep(gapMs);
      }
    });
    const streamed = await traced(procs, 'stream', async () => {
      for (let i = 0; i < streams; i++) await timedStream(hub.url, 'stream');
    });
    const per = (counts: Counts, n: number) => {
      const row: Record<string, number> = {};
      for (const name of SHOWN) row[name] = round((counts[name] ?? 0) / n, 2);
      row.all = round(Object.values(counts).reduce((sum, c) => sum + c, 0) / n, 1);
      return row;
    };
    const rows = [
      { what: 'plain, back to back: hub', ...per(plain[0], calls) },
      { what: 'plain, back to back: registrar', ...per(plain[1], calls) },
      { what: `plain, ${gapMs} ms apart: hub`, ...per(apart[0], gapCalls) },
      { what: `plain, ${gapMs} ms apart: registrar`, ...per(apart[1], gapCalls) },
      { what: `stream, per token (${tokens} @ 1 ms): hub`, ...per(streamed[0], streams * tokens) },
      { what: `stream, per token (${tokens} @ 1 ms): registrar`, ...per(streamed[1], streams * tokens) },
    ];
    printTable('system calls per call (per token for the stream), strace -c -f', rows);
    const result = { calls, gapMs, gapCalls, streams, tokens, rows };
    writeResult('syscalls', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runSyscalls();
