// `npm run bench`: every benchmark in turn, then the figures against the targets of issue 5 (2 cores, hub,
// registrar, model server and load generator all on this machine). Each also runs alone: node --import tsx bench/<name>.ts
import { runMemory } from './memory.ts';
import { runRelayOverhead } from './relay-overhead.ts';
import { runScale } from './scale.ts';
import { runStreaming } from './streaming.ts';
import { printTable, round, writeResult } from './support.ts';
import { runThroughput } from './throughput.ts';
import { runWakeup } from './wakeup.ts';

const started = performance.now();
const relay = await runRelayOverhead();
const streaming = await runStreaming();
const throughput = await runThroughput();
const memory = await runMemory();
const scale = await runScale();
const wakeup = await runWakeup();
const minutes = (performance.now() - started) / 60_000;

const at64 = throughput.levels.find((level) => level.concurrency === 64);
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
const targets = [
  { target: 'added p50 latency, non-streaming', goal: '≤ 1 ms', measured: `${relay.addedP50Ms} ms`, verdict: verdict(relay.addedP50Ms <= 1) },
  {
    target: 'added time to first token (p50)',
    goal: '≤ 2 ms',
    // A first token after the model's pause meets the relay idle: the same as a plain call after idle, not at full speed.
    measured: `${streaming.ttft.addedP50} ms (plain call after idle: ${relay.afterIdle.addedP50Ms} ms added)`,
    verdict: verdict(streaming.ttft.addedP50 <= 2),
  },
  { target: 'tasks/s through one registrar, concurrency 64', goal: '≥ 1500', measured: String(at64?.relayedPerSecond), verdict: verdict((at64?.relayedPerSecond ?? 0) >= 1500) },
  { target: 'registrar RSS idle (llm-registrar start)', goal: '≤ 80 MB', measured: `${memory.idle.rssMb} MB`, verdict: verdict(memory.idle.rssMb <= 80) },
  {
    target: `heap after GC, ${memory.leak.tasks / 5} → ${memory.leak.tasks} tasks`,
    goal: 'no growth beyond noise (< 1 MB)',
    measured: `${memory.leak.heapGrowthMb} MB (last 40k: ${memory.leak.heapGrowthSecondHalfMb} MB)`,
    verdict: verdict(memory.leak.heapGrowthMb < 1),
  },
];
printTable(`targets (${round(minutes, 1)} min for the whole suite)`, targets);
process.stdout.write(
  `\nscale: ${scale.registrars} registrars registered in ${scale.registration.rowsMs} ms, hub ${scale.hubRssMb.withRegistrars} MB, ` +
    `${scale.heartbeat.hubCpuUsPerHeartbeat} µs of hub CPU per heartbeat; back ${scale.restart.rowsMs} ms after a hub restart\n`,
);
writeResult('summary', { minutes: round(minutes, 2), targets, relay, streaming, throughput, memory, scale, wakeup });
