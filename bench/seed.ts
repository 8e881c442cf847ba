// Tasks/s through one registrar, ours against the seed's (../shared/peers/seed-registrar/, the mcpd registrar as the
// seed wrote it: a bare class, no machines), on the same hub and the same model server, non-streaming calls at
// concurrency 32; each measured twice, alternating, with the CPU each registrar spent per task.
// And a bare registrar (bench/bare-registrar.ts: node:http, nothing but the happy path), the floor any registrar meets here.
import { join } from 'node:path';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  closedLoop,
  cpuSeconds,
  isMain,
  openAiProvider,
  percentile,
  printTable,
  ROOT,
  round,
  spawnNode,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  timedChat,
  TOKEN,
  waitFor,
  request,
  authHeaders,
  withProcesses,
  writeResult,
  type Proc,
} from './support.ts';

const SEED_DIR = join(ROOT, '..', 'shared', 'peers', 'seed-registrar');

export interface SeedSide {
  tasksPerSecond: number;
  p50Ms: number;
  errors: number;
  registrarCpuUsPerTask: number;
}

export interface SeedResult {
  concurrency: number;
  seconds: number;
  ours: SeedSide;
  seed: SeedSide;
  /** bench/bare-registrar.ts: the least a registrar can do per call, what the hub and model server leave for any. */
  bare: SeedSide;
  /** Ours over the seed's tasks/s. */
  ratio: number;
  /** The bare registrar's over the seed's: as far as any registrar could go past the seed on this machine. */
  bareRatio: number;
}

/** The seed's files are read-only and carry no package.json: a copy beside one that makes them ES modules. */
function startSeedRegistrar(dir: string, env: Record<string, string>): Proc {
  cpSync(SEED_DIR, join(dir, 'seed-registrar'), { recursive: true });
  writeFileSync(join(dir, 'seed-registrar', 'package.json'), '{ "type": "module" }\n');
  Object.assign(process.env, env);
  return spawnNode('seed-registrar', ['--import', 'tsx', join(dir, 'seed-registrar', 'run.ts')]);
}

async function measure(hubUrl: string, model: string, registrar: Proc, concurrency: number, seconds: number): Promise<Measured> {
  await closedLoop(concurrency, 500, () => timedChat(hubUrl, model, concurrency));
  const before = cpuSeconds(registrar.pid);
  const run = await closedLoop(concurrency, seconds * 1000, () => timedChat(hubUrl, model, concurrency));
  const cpu = cpuSeconds(registrar.pid) - before;
  return {
    tasksPerSecond: round(run.completed / run.seconds, 0),
    p50Ms: round(percentile(run.latencies, 50), 2),
    errors: run.errors,
    registrarCpuUsPerTask: round((cpu * 1e6) / Math.max(1, run.completed), 0),
    completed: run.completed,
    cpu,
  };
}

type Measured = SeedSide & { completed: number; cpu: number };

function combine(runs: Measured[]): SeedSide {
  return {
    tasksPerSecond: round(runs.reduce((s, r) => s + r.tasksPerSecond, 0) / runs.length, 0),
    p50Ms: round(runs.reduce((s, r) => s + r.p50Ms, 0) / runs.length, 2),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    registrarCpuUsPerTask: round((runs.reduce((s, r) => s + r.cpu, 0) * 1e6) / runs.reduce((s, r) => s + r.completed, 0), 0),
  };
}

export async function runSeed(options: { concurrency?: number; seconds?: number } = {}): Promise<SeedResult> {
  const concurrency = options.concurrency ?? 32;
  const seconds = options.seconds ?? 4;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('seed-model', { tokens: 8, tokenDelayMs: 0 }));
    const hub = track(await startHubProcess('seed-hub'));
    const ours = track(await startRegistrarProcess('seed-ours-registrar', hub.url, [openAiProvider('ours', `${model.url}/v1`, concurrency)]));
    const dir = mkdtempSync(join(tmpdir(), 'llmr-seed-'));
    const seedEnv = { HUB_URL: hub.url, HUB_TOKEN: TOKEN, UPSTREAM: model.url, NAME: 'seed-llm', MODEL: 'bench-model', SESSION_FILE: join(dir, 'session') };
    const seed = track({ ...startSeedRegistrar(dir, seedEnv), cleanup: () => rmSync(dir, { recursive: true, force: true }) });
    await waitFor(async () => {
      const { status, body } = await request(`${hub.url}/api/v1/llms`, { headers: authHeaders });
      return status === 200 && body.includes('"seed-llm"') && (await timedChat(hub.url, 'seed-llm').then(() => true, () => false));
    }, 30_000, 'the seed registrar to register');
    Object.assign(process.env, { ...seedEnv, NAME: 'bare-llm' });
    const bare = track(spawnNode('bare-registrar', ['--import', 'tsx', 'bench/bare-registrar.ts']));
    await waitFor(() => timedChat(hub.url, 'bare-llm').then(() => true, () => false), 30_000, 'the bare registrar to register');
    const runs = { ours: [] as Measured[], seed: [] as Measured[], bare: [] as Measured[] };
    for (let round = 0; round < 2; round++) {
      runs.ours.push(await measure(hub.url, 'ours', ours, concurrency, seconds));
      runs.seed.push(await measure(hub.url, 'seed-llm', seed, concurrency, seconds));
      runs.bare.push(await measure(hub.url, 'bare-llm', bare, concurrency, seconds));
    }
    const sides = { ours: combine(runs.ours), seed: combine(runs.seed), bare: combine(runs.bare) };
    const result: SeedResult = { concurrency, seconds, ...sides, ratio: round(sides.ours.tasksPerSecond / sides.seed.tasksPerSecond, 2), bareRatio: round(sides.bare.tasksPerSecond / sides.seed.tasksPerSecond, 2) };
    printTable(`ours against the seed's registrar: non-streaming tasks/s, concurrency ${concurrency}, same hub and model server, 2 × ${seconds} s each`, [
      { registrar: 'llm-registrar', 'tasks/s': result.ours.tasksPerSecond, 'p50 ms': result.ours.p50Ms, errors: result.ours.errors, 'registrar µs/task': result.ours.registrarCpuUsPerTask },
      { registrar: "seed's", 'tasks/s': result.seed.tasksPerSecond, 'p50 ms': result.seed.p50Ms, errors: result.seed.errors, 'registrar µs/task': result.seed.registrarCpuUsPerTask },
      { registrar: 'bare (floor)', 'tasks/s': result.bare.tasksPerSecond, 'p50 ms': result.bare.p50Ms, errors: result.bare.errors, 'registrar µs/task': result.bare.registrarCpuUsPerTask },
    ]);
    process.stdout.write(`ours / seed's: ${result.ratio}×; bare / seed's: ${result.bareRatio}× (the most any registrar gets here)\n`);
    writeResult('seed', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runSeed();
