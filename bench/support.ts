// What every benchmark shares: the hub, registrar and model server as separate processes on 127.0.0.1, a lean
// keep-alive HTTP client for the caller side, CPU and RSS read from /proc, percentiles, a table, a JSON file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS = join(ROOT, 'bench', 'results');
export const TOKEN = 'bench-admin-token';
const CLI = join(ROOT, 'bin', 'llm-registrar');
const TICKS_PER_SECOND = 100;

/** True when the module that calls it is the script node was started with (each bench also runs alone). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === moduleUrl;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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

/** The scriptable OpenAI-compatible model server, as a process. */
export async function startModelServer(name: string, script: { tokens: number; tokenDelayMs: number }): Promise<Proc & { url: string }> {
  const proc = spawnNode(name, ['--import', 'tsx', 'bench/model-server.ts', '--tokens', String(script.tokens), '--token-delay-ms', String(script.tokenDelayMs)], { readFirstLine: true });
  const { url } = JSON.parse(await proc.firstLine!) as { url: string };
  return { ...proc, url };
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

export const authHeaders = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

// The caller side: node:http with a keep-alive agent costs far less CPU per call than fetch, so the load generator
// takes as little as possible of the two cores from the processes being measured.
const agents = new Map<number, http.Agent>();
function agentFor(maxSockets: number): http.Agent {
  let agent = agents.get(maxSockets);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    agents.set(maxSockets, agent);
  }
  return agent;
}

export interface Reply {
  status: number;
  body: string;
}

export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; sockets?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: agentFor(options.sockets ?? 16) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A chat call's body as a caller sends it. */
export function chatBody(model: string, stream = false): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'Say something short.' }], stream });
}

/** A typical coding agent's call: a system prompt and 32 function tools (~20 kB of JSON). */
export function agentBody(model: string): string {
  const tools = Array.from({ length: 32 }, (_, i) => ({
    type: 'function',
    function: {
      name: `tool_${i}`,
      description: `Tool number ${i}: does one thing to the repository and reports what it changed, in a few words. `.repeat(4),
      parameters: {
        type: 'object',
        properties: { path: { type: 'string', description: 'a path in the repository' }, pattern: { type: 'string' }, limit: { type: 'integer', minimum: 1 } },
        required: ['path'],
      },
    },
  }));
  const messages = [
    { role: 'system', content: 'You are a coding agent working in a repository. Use the tools to read and change files. '.repeat(12) },
    { role: 'user', content: 'Fix the failing test.' },
  ];
  return JSON.stringify({ model, messages, tools, tool_choice: 'auto', temperature: 0.2 });
}

/** One non-streaming chat completion; throws unless it answered 200. Returns its duration in ms. */
export async function timedChat(baseUrl: string, model: string, sockets = 16, body = chatBody(model)): Promise<number> {
  const started = performance.now();
  const reply = await request(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: authHeaders, body, sockets });
  const ms = performance.now() - started;
  if (reply.status !== 200) throw new Error(`chat call answered ${reply.status}: ${reply.body.slice(0, 300)}`);
  return ms;
}

export interface StreamTiming {
  /** ms from the request to each content delta, by cumulative token count (index k: token k arrived). */
  tokenArrivals: number[];
  /** SSE data events that carried content. */
  contentEvents: number;
  totalMs: number;
}

/** One streaming chat call; token k of the answer is counted when the text holding it arrives. */
export function timedStream(baseUrl: string, model: string, sockets = 16): Promise<StreamTiming> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const arrivals: number[] = [];
    let contentEvents = 0;
    let buffer = '';
    const req = http.request(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: authHeaders, agent: agentFor(sockets) }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`streaming call answered ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const now = performance.now() - started;
        buffer += text;
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          for (const line of block.split('\n')) {
            if (!line.startsWith('data:')) continue;
            const data = line.slice(5).trim();
            if (data === '[DONE]') continue;
            const content = (JSON.parse(data) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content;
            if (!content) continue;
            contentEvents++;
            const tokens = content.split('tok').length - 1;
            for (let i = 0; i < tokens; i++) arrivals.push(now);
          }
        }
      });
      res.on('end', () => resolve({ tokenArrivals: arrivals, contentEvents, totalMs: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(chatBody(model, true));
  });
}

/**
 * `rounds` pairs of the same call, straight to the model server then through the relay, so both see the same
 * machine; each call after `idleMs` of quiet when given.
 */
export async function interleaved<T>(rounds: number, direct: () => Promise<T>, relayed: () => Promise<T>, idleMs = 0): Promise<{ direct: T[]; relayed: T[] }> {
  const result = { direct: [] as T[], relayed: [] as T[] };
  for (let i = 0; i < rounds; i++) {
    if (idleMs > 0) await sleep(idleMs);
    result.direct.push(await direct());
    if (idleMs > 0) await sleep(idleMs);
    result.relayed.push(await relayed());
  }
  return result;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: field 3 is state; utime and stime are fields 14 and 15 of the whole line.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** User and system CPU seconds apart (system time is the kernel's: loopback TCP, wakeups, fsync). */
export function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
}

/** Resident set size of a process, in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Prints rows as an aligned table under a title. */
export function printTable(title: string, rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const cell = (v: string | number | undefined) => (typeof v === 'number' ? String(round(v)) : (v ?? ''));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i])).join('  ');
  process.stdout.write(`\n${title}\n${line(columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}

export function writeResult(name: string, result: unknown): string {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.json`);
  writeFileSync(path, `${JSON.stringify({ bench: name, at: new Date().toISOString(), node: process.version, ...(result as object) }, null, 2)}\n`);
  return path;
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

/** Keeps `concurrency` calls in flight for `durationMs`; returns how many completed and every latency. */
export async function closedLoop(concurrency: number, durationMs: number, call: () => Promise<number>): Promise<{ completed: number; latencies: number[]; seconds: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        latencies.push(await call());
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { completed: latencies.length, latencies, seconds: (performance.now() - started) / 1000, errors };
}
