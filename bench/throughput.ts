// Throughput: completed non-streaming tasks per second through one registrar at concurrency 1, 8, 64, 256
// (maxConcurrency raised to 256), against the model server called directly at the same concurrency; and the CPU
// each process used meanwhile (from /proc), which tells what saturates first. Hub, registrar and model server are
// separate processes; the load generator is this one.
import {
  closedLoop,
  cpuSeconds,
  isMain,
  openAiProvider,
  percentile,
  printTable,
  round,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  timedChat,
  withProcesses,
  writeResult,
} from './support.ts';

export interface ThroughputLevel {
  concurrency: number;
  directPerSecond: number;
  relayedPerSecond: number;
  ratio: number;
  relayedP50Ms: number;
  relayedP99Ms: number;
  errors: number;
  /** Share of one core each process used while the relayed load ran (1 = a whole core). */
  cpu: { hub: number; registrar: number; model: number; caller: number };
  /** CPU microseconds per relayed task, per process. */
  cpuUsPerTask: { hub: number; registrar: number; model: number };
  saturated: string;
}

export interface ThroughputResult {
  secondsPerLevel: number;
  levels: ThroughputLevel[];
}

export async function runThroughput(options: { levels?: number[]; seconds?: number } = {}): Promise<ThroughputResult> {
  const levels = options.levels ?? [1, 8, 64, 256];
  const seconds = options.seconds ?? 4;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('throughput-model', { tokens: 8, tokenDelayMs: 0 }));
    const hub = track(await startHubProcess('throughput-hub'));
    const registrar = track(await startRegistrarProcess('throughput-registrar', hub.url, [openAiProvider('bench', `${model.url}/v1`, 256)]));
    const results: ThroughputLevel[] = [];
    for (const concurrency of levels) {
      await closedLoop(concurrency, 500, () => timedChat(model.url, 'bench', concurrency));
      const direct = await closedLoop(concurrency, seconds * 1000, () => timedChat(model.url, 'bench', concurrency));
      await closedLoop(concurrency, 500, () => timedChat(hub.url, 'bench', concurrency));
      const before = { hub: cpuSeconds(hub.pid), registrar: cpuSeconds(registrar.pid), model: cpuSeconds(model.pid), caller: process.cpuUsage() };
      const relayed = await closedLoop(concurrency, seconds * 1000, () => timedChat(hub.url, 'bench', concurrency));
      const caller = process.cpuUsage(before.caller);
      const used = {
        hub: cpuSeconds(hub.pid) - before.hub,
        registrar: cpuSeconds(registrar.pid) - before.registrar,
        model: cpuSeconds(model.pid) - before.model,
        caller: (caller.user + caller.system) / 1e6,
      };
      const share = (s: number) => round(s / relayed.seconds, 2);
      const cpu = { hub: share(used.hub), registrar: share(used.registrar), model: share(used.model), caller: share(used.caller) };
      const busiest = (Object.entries(cpu) as [string, number][]).filter(([name]) => name !== 'caller').sort((a, b) => b[1] - a[1])[0];
      const total = cpu.hub + cpu.registrar + cpu.model + cpu.caller;
      const perTask = (s: number) => round((s * 1e6) / Math.max(1, relayed.completed), 0);
      results.push({
        concurrency,
        directPerSecond: round(direct.completed / direct.seconds, 0),
        relayedPerSecond: round(relayed.completed / relayed.seconds, 0),
        ratio: round(relayed.completed / relayed.seconds / (direct.completed / direct.seconds), 3),
        relayedP50Ms: round(percentile(relayed.latencies, 50), 2),
        relayedP99Ms: round(percentile(relayed.latencies, 99), 2),
        errors: relayed.errors,
        cpu,
        cpuUsPerTask: { hub: perTask(used.hub), registrar: perTask(used.registrar), model: perTask(used.model) },
        saturated: busiest[1] >= 0.9 ? `${busiest[0]} (one core)` : total >= 1.8 ? 'both cores (all processes together)' : 'nothing',
      });
    }
    printTable(`throughput: non-streaming tasks/s, model answers at once, ${seconds} s per level`, results.map((r) => ({
      concurrency: r.concurrency,
      direct: r.directPerSecond,
      relayed: r.relayedPerSecond,
      'relayed/direct': r.ratio,
      'p50 ms': r.relayedP50Ms,
      'p99 ms': r.relayedP99Ms,
      errors: r.errors,
      'cpu hub': r.cpu.hub,
      'cpu registrar': r.cpu.registrar,
      'cpu model': r.cpu.model,
      'cpu caller': r.cpu.caller,
      'µs/task hub': r.cpuUsPerTask.hub,
      'µs/task registrar': r.cpuUsPerTask.registrar,
      'saturated first': r.saturated,
    })));
    const result = { secondsPerLevel: seconds, levels: results };
    writeResult('throughput', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runThroughput();
