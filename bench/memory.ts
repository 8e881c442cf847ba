// Memory: the registrar's RSS idle (one provider, then 50), as `llm-registrar start` runs (bin/llm-registrar, compiled),
// and a leak check over 100,000 tasks: the V8 heap after a full GC at 20,000, 60,000 and 100,000 tasks must not grow
// beyond noise. For that one the registrar is the CLI's own start command in a process run with --expose-gc
// (bench/registrar-process.ts, through tsx), asked over IPC to collect and measure.
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
  /** RSS of `llm-registrar start`, idle with one provider and with 50. */
  idle: { rssMb: number; fiftyProvidersRssMb: number };
  /** Node alone, and node running tsx (how the source runs without a build): the floor under ours. */
  floor: { nodeMb: number; nodeWithTsxMb: number };
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

    const idleRss = async (name: string, providers: Record<string, unknown>[]) => {
      const registrar = track(await startRegistrarProcess(name, hub.url, providers));
      await sleep(1_000);
      const rss = round(rssMb(registrar.pid), 1);
      await registrar.stop();
      return rss;
    };
    const idle = {
      rssMb: await idleRss('memory-registrar-idle', [openAiProvider('idle', `${model.url}/v1`)]),
      fiftyProvidersRssMb: await idleRss('memory-registrar-50', Array.from({ length: 50 }, (_, i) => openAiProvider(`many-${i}`, `${model.url}/v1`))),
    };

    const registrar = track(await startRegistrarProcess('memory-registrar', hub.url, [openAiProvider('bench', `${model.url}/v1`, 256)], asCli));
    await sleep(1_000);
    const start = await measure(registrar);

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
    printTable('memory: idle RSS, MB', [
      { process: 'llm-registrar start, 1 provider', RSS: idle.rssMb },
      { process: 'llm-registrar start, 50 providers', RSS: idle.fiftyProvidersRssMb },
      { process: 'node alone, running nothing', RSS: floor.nodeMb },
      { process: 'node --import tsx, running nothing', RSS: floor.nodeWithTsxMb },
    ]);
    printTable('memory: registrar over 100,000 tasks, MB after two full collections', [
      { when: 'idle', 'heap used': start.heapUsedMb, RSS: start.rssMb },
      { when: `after ${checkpoint} tasks`, 'heap used': at20k.heapUsedMb, RSS: at20k.rssMb },
      { when: `after ${middle} tasks`, 'heap used': at60k.heapUsedMb, RSS: at60k.rssMb },
      { when: `after ${total} tasks`, 'heap used': at100k.heapUsedMb, RSS: at100k.rssMb },
      { when: `growth ${checkpoint} → ${total}`, 'heap used': result.leak.heapGrowthMb, RSS: result.leak.rssGrowthMb },
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
