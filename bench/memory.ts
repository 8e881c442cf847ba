// Memory: the registrar's RSS idle (one provider, then 50), and a leak check over 100,000 tasks: RSS and V8 heap
// after a full GC at 20,000 tasks and at 100,000 must not grow beyond noise. The registrar is the CLI's own start
// command in a process run with --expose-gc (bench/registrar-process.ts), asked over IPC to collect and measure.
import {
  closedLoop,
  isMain,
  openAiProvider,
  printTable,
  round,
  rssMb,
  sleep,
  spawnNode,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  timedChat,
  withProcesses,
  writeResult,
  type Proc,
} from './support.ts';

const MB = 1024 * 1024;

interface Measure {
  rssMb: number;
  heapUsedMb: number;
  externalMb: number;
}

function measure(proc: Proc): Promise<Measure> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: NodeJS.MemoryUsage & { gcRan: boolean }) => {
      if (!m.gcRan) reject(new Error('the registrar process has no gc(): run it with --expose-gc'));
      resolve({ rssMb: round(m.rss / MB, 1), heapUsedMb: round(m.heapUsed / MB, 2), externalMb: round(m.external / MB, 2) });
    };
    proc.child.once('message', onMessage);
    proc.child.send('measure');
  });
}

export interface MemoryResult {
  idle: Measure & { rssBeforeGcMb: number };
  /** The same measure for node alone and for node running tsx (how bin/llm-registrar runs): the floor under ours. */
  floor: { nodeMb: number; nodeWithTsxMb: number };
  fiftyProviders: Measure & { rssBeforeGcMb: number };
  leak: {
    tasks: number;
    at20k: Measure;
    at60k: Measure;
    at100k: Measure;
    heapGrowthMb: number;
    /** 60k → 100k: a leak grows as much in the second half as in the first; warm-up (JIT, pools) does not. */
    heapGrowthSecondHalfMb: number;
    rssGrowthMb: number;
    bytesPerTaskHeap: number;
    tasksPerSecond: number;
  };
}

export async function runMemory(options: { tasks?: number; checkpoint?: number; concurrency?: number } = {}): Promise<MemoryResult> {
  const total = options.tasks ?? 100_000;
  const checkpoint = options.checkpoint ?? 20_000;
  const concurrency = options.concurrency ?? 64;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('memory-model', { tokens: 8, tokenDelayMs: 0 }));
    const hub = track(await startHubProcess('memory-hub'));
    const asCli = { entry: 'bench' as const, nodeFlags: ['--expose-gc'] };
    const idleProcess = (name: string, flags: string[]) => spawnNode(name, [...flags, '-e', 'setInterval(() => {}, 1000)']);
    const bare = track(idleProcess('memory-floor-node', []));
    const withTsx = track(idleProcess('memory-floor-tsx', ['--import', 'tsx']));
    await sleep(1_500);
    const floor = { nodeMb: round(rssMb(bare.pid), 1), nodeWithTsxMb: round(rssMb(withTsx.pid), 1) };
    await bare.stop();
    await withTsx.stop();

    const fifty = track(
      await startRegistrarProcess('memory-registrar-50', hub.url, Array.from({ length: 50 }, (_, i) => openAiProvider(`many-${i}`, `${model.url}/v1`)), asCli),
    );
    await sleep(1_000);
    const fiftyRaw = rssMb(fifty.pid);
    const fiftyProviders = { ...(await measure(fifty)), rssBeforeGcMb: round(fiftyRaw, 1) };
    await fifty.stop();

    const registrar = track(await startRegistrarProcess('memory-registrar', hub.url, [openAiProvider('bench', `${model.url}/v1`, 256)], asCli));
    await sleep(1_000);
    const idleRaw = rssMb(registrar.pid);
    const idle = { ...(await measure(registrar)), rssBeforeGcMb: round(idleRaw, 1) };

    // Exactly `n` tasks, `concurrency` at a time.
    let started = 0;
    const run = async (n: number) => {
      const target = started + n;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (started < target) {
            started++;
            await timedChat(hub.url, 'bench', concurrency);
          }
        }),
      );
    };
    const t0 = performance.now();
    await run(checkpoint);
    await sleep(500);
    const at20k = await measure(registrar);
    const middle = Math.round((checkpoint + total) / 2 / 1000) * 1000;
    await run(middle - checkpoint);
    await sleep(500);
    const at60k = await measure(registrar);
    await run(total - middle);
    const seconds = (performance.now() - t0) / 1000;
    await sleep(500);
    const at100k = await measure(registrar);

    const result: MemoryResult = {
      idle,
      floor,
      fiftyProviders,
      leak: {
        tasks: total,
        at20k,
        at60k,
        at100k,
        heapGrowthMb: round(at100k.heapUsedMb - at20k.heapUsedMb, 2),
        heapGrowthSecondHalfMb: round(at100k.heapUsedMb - at60k.heapUsedMb, 2),
        rssGrowthMb: round(at100k.rssMb - at20k.rssMb, 1),
        bytesPerTaskHeap: round(((at100k.heapUsedMb - at20k.heapUsedMb) * MB) / (total - checkpoint), 2),
        tasksPerSecond: round(total / seconds, 0),
      },
    };
    printTable('memory floor: idle processes that run nothing of ours', [
      { process: 'node', RSS: floor.nodeMb },
      { process: 'node --import tsx (how bin/llm-registrar runs)', RSS: floor.nodeWithTsxMb },
    ]);
    printTable('memory: registrar (llm-registrar start), MB; "after GC" = two full collections', [
      { when: 'idle, 1 provider', 'RSS': result.idle.rssBeforeGcMb, 'RSS after GC': result.idle.rssMb, 'heap used': result.idle.heapUsedMb },
      { when: 'idle, 50 providers', 'RSS': result.fiftyProviders.rssBeforeGcMb, 'RSS after GC': result.fiftyProviders.rssMb, 'heap used': result.fiftyProviders.heapUsedMb },
      { when: `after ${checkpoint} tasks`, 'RSS': '-', 'RSS after GC': at20k.rssMb, 'heap used': at20k.heapUsedMb },
      { when: `after ${middle} tasks`, 'RSS': '-', 'RSS after GC': at60k.rssMb, 'heap used': at60k.heapUsedMb },
      { when: `after ${total} tasks`, 'RSS': '-', 'RSS after GC': at100k.rssMb, 'heap used': at100k.heapUsedMb },
      { when: 'growth 20k → 100k', 'RSS': '-', 'RSS after GC': result.leak.rssGrowthMb, 'heap used': result.leak.heapGrowthMb },
    ]);
    process.stdout.write(
      `heap growth ${checkpoint} → ${total}: ${result.leak.bytesPerTaskHeap} bytes per task; ${middle} → ${total}: ${result.leak.heapGrowthSecondHalfMb} MB ` +
        `(RSS after GC is no leak gauge: V8 and malloc keep freed pages); ${result.leak.tasksPerSecond} tasks/s at concurrency ${concurrency}\n`,
    );
    writeResult('memory', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runMemory();
