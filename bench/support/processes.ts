// The processes of a benchmark, each its own on 127.0.0.1: the hub, the registrar and the scriptable model server,
// their logs in bench/results/logs, and all of them stopped whatever happened.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authHeaders, request, sleep, TOKEN } from './caller.ts';
import { RESULTS, ROOT } from './report.ts';

const CLI = join(ROOT, 'bin', 'llm-registrar');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A child process of the benchmark; its stderr (and stdout unless read) goes to a log file in bench/results. */
export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Resolves with the first stdout line (for processes that print where they listen). */
  firstLine?: Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnNode(name: string, args: string[], options: { readFirstLine?: boolean; nodeFlags?: string[]; ipc?: boolean } = {}): Proc {
  mkdirSync(join(RESULTS, 'logs'), { recursive: true });
  const log = openSync(join(RESULTS, 'logs', `${name}.log`), 'w');
  const stdio: ('ignore' | 'pipe' | 'ipc' | number)[] = ['ignore', options.readFirstLine ? 'pipe' : log, log];
  if (options.ipc) stdio.push('ipc');
  // BENCH_CPU_PROF=DIR: every process writes its profiles to DIR/<name>/ when it exits, one per thread (the tsx loader
  // has a thread of its own): read the largest with bench/top-functions.ts.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', '--cpu-prof-dir', join(process.env.BENCH_CPU_PROF, name), ...(process.env.BENCH_CPU_PROF_INTERVAL_US ? ['--cpu-prof-interval', process.env.BENCH_CPU_PROF_INTERVAL_US] : [])]
    : [];
  const child = spawn(process.execPath, [...profile, ...(options.nodeFlags ?? []), ...args], { cwd: ROOT, stdio, env: { ...process.env, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let firstLine: Promise<string> | undefined;
  if (options.readFirstLine) {
    firstLine = new Promise((resolve, reject) => {
      let buffer = '';
      child.stdout!.on('data', (bytes: Buffer) => {
        buffer += bytes.toString('utf8');
        const end = buffer.indexOf('\n');
        if (end >= 0) resolve(buffer.slice(0, end));
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before saying where it listens; see bench/results/logs/${name}.log`)));
    });
  }
  return {
    name,
    child,
    pid: child.pid!,
    firstLine,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const forced = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(forced);
    },
  };
}

/** A process that prints `{"url": …}` as its first line once it listens. */
export async function spawnListening(name: string, args: string[]): Promise<Proc & { url: string }> {
  const proc = spawnNode(name, args, { readFirstLine: true });
  const { url } = JSON.parse(await proc.firstLine!) as { url: string };
  return { ...proc, url };
}

/** The scriptable OpenAI-compatible model server, as a process. */
export function startModelServer(name: string, script: { tokens: number; tokenDelayMs: number }): Promise<Proc & { url: string }> {
  return spawnListening(name, ['--import', 'tsx', 'bench/model-server.ts', '--tokens', String(script.tokens), '--token-delay-ms', String(script.tokenDelayMs)]);
}

/** `llm-registrar hub` as a process, on a given port (0: a free one). */
export async function startHubProcess(name: string, port = 0, extra: string[] = []): Promise<Proc & { url: string; port: number }> {
  const chosen = port === 0 ? await freePort() : port;
  const proc = spawnNode(name, [CLI, 'hub', '--port', String(chosen), '--token', TOKEN, ...extra]);
  const url = `http://127.0.0.1:${chosen}`;
  await waitFor(async () => (await request(`${url}/healthz`)).status === 200, 20_000, `${name} to listen`);
  return { ...proc, url, port: chosen };
}

export interface BenchProvider {
  name: string;
  baseUrl: string;
  maxConcurrency?: number;
}

/** A registrar config file (and state dir) in a temp dir: OpenAI-type providers, public, status server off. */
export function writeRegistrarConfig(hubUrl: string, providers: Record<string, unknown>[], timing: Record<string, number> = {}): { configPath: string; stateDir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'llmr-bench-'));
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ hub: { url: hubUrl, token: TOKEN }, providers, timing, status: { enabled: false } }));
  return { configPath, stateDir: join(dir, 'state'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function openAiProvider(name: string, baseUrl: string, maxConcurrency = 4): Record<string, unknown> {
  return { name, type: 'openai', baseUrl, model: 'bench-model', visibility: 'public', maxConcurrency };
}

/** `llm-registrar start --config …` as a process; resolves once the hub lists every one of its providers active. */
export async function startRegistrarProcess(
  name: string,
  hubUrl: string,
  providers: Record<string, unknown>[],
  options: { timing?: Record<string, number>; nodeFlags?: string[]; entry?: 'cli' | 'bench'; } = {},
): Promise<Proc & { cleanup(): void }> {
  const config = writeRegistrarConfig(hubUrl, providers, options.timing);
  const args =
    options.entry === 'bench'
      ? ['--import', 'tsx', 'bench/registrar-process.ts', config.configPath, config.stateDir]
      : [CLI, 'start', '--config', config.configPath, '--state-dir', config.stateDir];
  const proc = spawnNode(name, args, { nodeFlags: options.nodeFlags, ipc: options.entry === 'bench' });
  const names = providers.map((p) => p.name as string);
  await waitFor(async () => {
    const { status, body } = await request(`${hubUrl}/api/v1/llms`, { headers: authHeaders });
    if (status !== 200) return false;
    const rows = (JSON.parse(body) as { data?: { name: string; status: string }[] } | { name: string; status: string }[]);
    const list = Array.isArray(rows) ? rows : (rows.data ?? []);
    return names.every((n) => list.some((row) => row.name === n && row.status === 'active'));
  }, 30_000, `${name} to register`);
  // The task stream opens right after the register answer: give it a moment.
  await sleep(200);
  return { ...proc, cleanup: config.cleanup };
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Runs `body`, then stops every process it started, whatever happened. */
export async function withProcesses<T>(body: (track: <P extends Proc>(proc: P) => P) => Promise<T>): Promise<T> {
  const procs: Proc[] = [];
  const cleanups: (() => void)[] = [];
  try {
    return await body((proc) => {
      procs.push(proc);
      const cleanup = (proc as { cleanup?: () => void }).cleanup;
      if (cleanup) cleanups.push(cleanup);
      return proc;
    });
  } finally {
    for (const proc of procs.reverse()) await proc.stop();
    for (const cleanup of cleanups) cleanup();
  }
}

/** A benchmark's child process spoken to over IPC: `ask` sends a message and waits for the reply that has `key`. */
export interface AskingChild {
  proc: Proc;
  ask<T>(message: unknown, key: string): Promise<T>;
}

export function askingChild(proc: Proc): AskingChild {
  return {
    proc,
    ask: (message, key) =>
      new Promise((resolve) => {
        const onMessage = (reply: Record<string, unknown>) => {
          if (!(key in reply)) return;
          proc.child.off('message', onMessage);
          resolve(reply as never);
        };
        proc.child.on('message', onMessage);
        if (message !== undefined) proc.child.send(message as never);
      }),
  };
}
