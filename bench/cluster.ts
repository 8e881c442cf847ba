// The replicated hub against the one-process hub (issue 13), every hub and registrar its own process: the added p50
// per streamed chunk when the caller is on replica A and the registrar's stream on replica B (chunk POSTs to B,
// forwarded to A), and plain-call tasks/s through three replicas vs one hub, with several registrars (demo models,
// no token delay). Both setups run side by side on real redis-server and PostgreSQL; their measurements alternate,
// so both see the same machine. `--in-process`: every hub and registrar in this process instead, which shows what
// the replicas' own work adds per chunk without the scheduling of more processes (its tasks/s ratio cannot pass 1:
// one event loop serves all three replicas).
// Run: npm run build && node --import tsx bench/cluster.ts [--in-process] [--registrars N] [--rounds N]
import { parseArgs } from 'node:util';
import { startHub } from '../src/hub/index.ts';
import { startDaemonAgainst, stopDaemon } from '../test/support/cluster.ts';
import { servicesMissing, startPostgres, startRedis, type Service } from '../test/support/services.ts';
import { redisWork } from './redis-info.ts';
import { authHeaders, isMain, percentile, printTable, request, round, startHubProcess, startRegistrarProcess, TOKEN, writeResult, type Proc } from './support.ts';

const long = [{ role: 'user', content: Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ') }];

export interface ClusterResult {
  inProcess: boolean;
  registrars: number;
  rounds: number;
  chunkMsP50: { oneHub: number; replicas: number; added: number };
  tasksPerSecond: { oneHub: number; replicas: number; ratio: number };
  /** Redis commands (a script's own included) and µs of Redis time, idle replicas' background taken out. */
  redis: { commandsPerChunk: number; commandsPerPlainCall: number; usecPerPlainCall: number; idleCommandsPerSecond: number };
}

/** One streamed call: ms per SSE data event, from the answer's headers to its end, and how many events. */
async function streamedCall(url: string, model: string): Promise<{ msPerEvent: number; events: number }> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: authHeaders, body: JSON.stringify({ model, messages: long, stream: true }) });
  if (res.status !== 200) throw new Error(`streamed call answered ${res.status}: ${await res.text()}`);
  const started = performance.now();
  let text = '';
  const decoder = new TextDecoder();
  for await (const piece of res.body!) text += decoder.decode(piece as Uint8Array, { stream: true });
  const events = (text.match(/^data: /gm) ?? []).length;
  return { msPerEvent: (performance.now() - started) / Math.max(1, events), events };
}

/** Plain calls from `concurrency` loops, spread over `urls` and `models`, for `durationMs`: calls per second, calls. */
async function tasksPerSecond(urls: string[], models: string[], durationMs: number, concurrency: number): Promise<{ perSecond: number; calls: number }> {
  let next = 0;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() - started < durationMs) {
        const i = next++;
        const body = JSON.stringify({ model: models[i % models.length], messages: [{ role: 'user', content: `call ${i}` }] });
        const reply = await request(`${urls[i % urls.length]}/v1/chat/completions`, { method: 'POST', headers: authHeaders, body, sockets: 64 });
        if (reply.status !== 200) throw new Error(`call ${i}: ${reply.status} ${reply.body.slice(0, 200)}`);
        done++;
      }
    }),
  );
  return { perSecond: done / ((performance.now() - started) / 1000), calls: done };
}

interface Setup {
  /** The one-process hub and the three replicas (the streamed figure calls replica A, replicas[0]). */
  one: string;
  replicas: string[];
  stop(): Promise<void>;
}

const demo = (name: string) => ({ name, type: 'demo', model: 'demo', tokenDelayMs: 0, visibility: 'public' });
/** Registrar i of the replicas: the first one's stream on replica B, the others spread. */
const replicaOf = (i: number) => (i + 1) % 3;

async function processes(models: string[], redis: Service, postgres: Service): Promise<Setup> {
  const started: (Proc & { cleanup?(): void })[] = [];
  const track = <P extends Proc>(proc: P): P => {
    started.push(proc);
    return proc;
  };
  const stop = async (): Promise<void> => {
    for (const proc of started.reverse()) await proc.stop();
    for (const proc of started) proc.cleanup?.();
  };
  try {
    const one = track(await startHubProcess('cluster-one-hub', 0, ['--log-level', 'warn']));
    const replicas = await Promise.all([0, 1, 2].map(async (i) => track(await startHubProcess(`cluster-replica-${i}`, 0, ['--store', postgres.url, '--bus', redis.url, '--log-level', 'warn']))));
    await Promise.all(
      models.flatMap((model, i) => [
        startRegistrarProcess(`cluster-one-registrar-${i}`, one.url, [demo(model)]).then(track),
        startRegistrarProcess(`cluster-replicas-registrar-${i}`, replicas[replicaOf(i)]!.url, [demo(model)]).then(track),
      ]),
    );
    return { one: one.url, replicas: replicas.map((replica) => replica.url), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function inProcess(models: string[], redis: Service, postgres: Service): Promise<Setup> {
  const tokens = { [TOKEN]: { user: 'bench', admin: true } };
  const one = await startHub({ port: 0, tokens });
  const replicas = await Promise.all([0, 1, 2].map(() => startHub({ port: 0, tokens, store: postgres.url, bus: redis.url })));
  // The SPEC's heartbeat and stream idle timings, not the tests' milliseconds (a stream idle for 1 s reconnects).
  const timing = { heartbeatMs: 30_000, streamIdleMs: 45_000 };
  const daemons = await Promise.all(
    models.flatMap((model, i) => [
      startDaemonAgainst(one.url, { token: TOKEN, providers: [demo(model)], timing }),
      startDaemonAgainst(replicas[replicaOf(i)]!.url, { token: TOKEN, providers: [demo(model)], timing }),
    ]),
  );
  for (const url of [one.url, replicas[0]!.url]) {
    for (;;) {
      const listed = JSON.parse((await request(`${url}/v1/models`, { headers: authHeaders })).body) as { data: { id: string }[] };
      if (models.every((model) => listed.data.some((row) => row.id === model))) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return {
    one: one.url,
    replicas: replicas.map((replica) => replica.url),
    async stop() {
      for (const daemon of daemons) await stopDaemon(daemon);
      await Promise.all([one, ...replicas].map((hub) => hub.close()));
    },
  };
}

export async function runCluster(options: { inProcess?: boolean; registrars?: number; rounds?: number; streamedPerRound?: number; plainMs?: number; concurrency?: number } = {}): Promise<ClusterResult> {
  const registrars = options.registrars ?? 3;
  const rounds = options.rounds ?? 3;
  const streamedPerRound = options.streamedPerRound ?? 15;
  const plainMs = options.plainMs ?? 4_000;
  const concurrency = options.concurrency ?? 24;
  const missing = servicesMissing();
  if (missing) throw new Error(missing);
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  const models = Array.from({ length: registrars }, (_, i) => `demo${i}`);
  try {
    const setup = await (options.inProcess ? inProcess : processes)(models, redis, postgres);
    try {
      const { one, replicas } = setup;
      const a = replicas[0]!;
      const chunks = { one: [] as number[], replicas: [] as number[] };
      const tps = { one: [] as number[], replicas: [] as number[] };
      await streamedCall(one, 'demo0');
      await streamedCall(a, 'demo0');
      // What the replicas ask of Redis while nobody calls (liveness, load syncs, heartbeat batches), per second.
      const idle0 = { ...redisWork(redis.port), at: performance.now() };
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const idle1 = redisWork(redis.port);
      const idlePerMs = { commands: (idle1.commands - idle0.commands) / (performance.now() - idle0.at), usec: (idle1.usec - idle0.usec) / (performance.now() - idle0.at) };
      const work = { chunkCommands: 0, chunks: 0, callCommands: 0, callUsec: 0, calls: 0 };
      const measured = async <T>(body: () => Promise<T>): Promise<{ value: T; commands: number; usec: number }> => {
        const before = { ...redisWork(redis.port), at: performance.now() };
        const value = await body();
        const after = redisWork(redis.port);
        const ms = performance.now() - before.at;
        return { value, commands: after.commands - before.commands - idlePerMs.commands * ms, usec: after.usec - before.usec - idlePerMs.usec * ms };
      };
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < streamedPerRound; i++) {
          chunks.one.push((await streamedCall(one, 'demo0')).msPerEvent);
          const streamed = await measured(() => streamedCall(a, 'demo0'));
          chunks.replicas.push(streamed.value.msPerEvent);
          work.chunkCommands += streamed.commands;
          work.chunks += streamed.value.events;
        }
        tps.one.push((await tasksPerSecond([one], models, plainMs, concurrency)).perSecond);
        const plain = await measured(() => tasksPerSecond(replicas, models, plainMs, concurrency));
        tps.replicas.push(plain.value.perSecond);
        work.callCommands += plain.commands;
        work.callUsec += plain.usec;
        work.calls += plain.value.calls;
      }
      const p50 = (values: number[]) => percentile(values, 50);
      const result: ClusterResult = {
        inProcess: options.inProcess === true,
        registrars,
        rounds,
        chunkMsP50: { oneHub: round(p50(chunks.one), 3), replicas: round(p50(chunks.replicas), 3), added: round(p50(chunks.replicas) - p50(chunks.one), 3) },
        tasksPerSecond: { oneHub: round(p50(tps.one), 0), replicas: round(p50(tps.replicas), 0), ratio: round(p50(tps.replicas) / p50(tps.one), 2) },
        redis: {
          commandsPerChunk: round(work.chunkCommands / work.chunks, 2),
          commandsPerPlainCall: round(work.callCommands / work.calls, 2),
          usecPerPlainCall: round(work.callUsec / work.calls, 1),
          idleCommandsPerSecond: round(idlePerMs.commands * 1000, 0),
        },
      };
      const where = options.inProcess ? 'all in this process' : 'each its own process';
      printTable(`cluster: one hub vs three replicas (Redis + PostgreSQL), ${registrars} registrars each, ${where}, ${rounds} alternating rounds`, [
        { figure: 'per streamed chunk p50, one hub (ms)', value: result.chunkMsP50.oneHub },
        { figure: 'per streamed chunk p50, caller on A, stream on B (ms)', value: result.chunkMsP50.replicas },
        { figure: 'added per streamed chunk (ms; target ≤ 0.5)', value: result.chunkMsP50.added },
        { figure: `plain calls/s, one hub (c${concurrency}, median of rounds)`, value: result.tasksPerSecond.oneHub },
        { figure: 'plain calls/s, three replicas', value: result.tasksPerSecond.replicas },
        { figure: 'ratio (target ≥ 2)', value: result.tasksPerSecond.ratio },
        { figure: 'Redis commands per streamed chunk (a streamed call\'s own included)', value: result.redis.commandsPerChunk },
        { figure: 'Redis commands / µs per plain call', value: `${result.redis.commandsPerPlainCall} / ${result.redis.usecPerPlainCall}` },
        { figure: 'Redis commands per second, replicas idle (taken out above)', value: result.redis.idleCommandsPerSecond },
      ]);
      writeResult(options.inProcess ? 'cluster-in-process' : 'cluster', result);
      return result;
    } finally {
      await setup.stop();
    }
  } finally {
    await Promise.all([redis.destroy(), postgres.destroy()]);
  }
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { 'in-process': { type: 'boolean' }, registrars: { type: 'string' }, rounds: { type: 'string' } } });
  const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  await runCluster({ inProcess: values['in-process'], registrars: number(values.registrars), rounds: number(values.rounds) });
  process.exit(0);
}
