// `npm run bench`: every benchmark in turn, then the figures against the targets of issues 5, 12 and 13 (2 cores, hub,
// registrar, model server and load generator all on this machine). Each also runs alone: node --import tsx bench/<name>.ts
import { runHeartbeats } from './heartbeats.ts';
import { runMemory } from './memory.ts';
import { runRelayFloor } from './relay-floor.ts';
import { runRelayOverhead } from './relay-overhead.ts';
import { runScale } from './scale.ts';
import { runSeed } from './seed.ts';
import { runStreamLoad } from './stream-load.ts';
import { runStreaming } from './streaming.ts';
import { servicesMissing } from '../test/support/services.ts';
import { printTable, round, writeResult } from './support.ts';
import { runThroughput } from './throughput.ts';
import { runWakeup } from './wakeup.ts';

const started = performance.now();
const relay = await runRelayOverhead();
const streaming = await runStreaming();
const streamLoad = await runStreamLoad();
const floor = await runRelayFloor();
const seed = await runSeed();
const throughput = await runThroughput();
const memory = await runMemory();
const scale = await runScale();
const wakeup = await runWakeup();
// Replicas need redis-server and PostgreSQL on this machine; without them the row says what to install.
const replicasMissing = servicesMissing();
const heartbeats = replicasMissing === undefined ? await runHeartbeats() : undefined;
const minutes = (performance.now() - started) / 60_000;

// The floor on this machine: what two Node hops that only pipe bytes spend per token (bench/relay-floor.ts).
const bareHops = floor.rows.find((row) => row.path === 'two bare hops')!;
const floorDirect = floor.rows.find((row) => row.path === 'direct')!;
const floorOurs = floor.rows.find((row) => row.path === 'hub + registrar')!;
const at64 = throughput.levels.find((level) => level.concurrency === 64);
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
const targets = [
  { target: 'added p50 latency, non-streaming', goal: '≤ 0.5 ms', measured: `${relay.addedP50Ms} ms (relay-floor, one sitting: two bare Node hops ${floor.latency.bareHopsAddedP50Ms} ms, ours ${floor.latency.oursAddedP50Ms} ms)`, verdict: verdict(relay.addedP50Ms <= 0.5) },
  {
    target: `added p50, a 32-tool agent call (${relay.agent.bodyBytes} bytes)`,
    goal: 'no more than the plain call',
    measured: `${relay.agent.addedP50Ms} ms (plain: ${relay.addedP50Ms} ms)`,
    verdict: verdict(relay.agent.addedP50Ms <= relay.addedP50Ms + 0.1),
  },
  {
    target: 'added time to first token (p50)',
    goal: '≤ 1 ms',
    // A first token after the model's pause meets the relay idle: the same as a plain call after idle, not at full speed.
    measured: `${streaming.ttft.addedP50} ms (relay-floor: two bare Node hops ${floor.latency.firstToken.bareHopsAddedP50Ms} ms, ours ${floor.latency.firstToken.oursAddedP50Ms} ms)`,
    verdict: verdict(streaming.ttft.addedP50 <= 1),
  },
  {
    target: 'relay CPU per streamed token, hub + registrar, 32 × 200 tokens @ 5 ms',
    goal: '≤ 15 µs',
    measured: `${streamLoad.relayCpuUsPerToken} µs (relay-floor: two bare Node hops ${bareHops.relayUsPerToken} µs, ours ${floorOurs.relayUsPerToken} µs; model server ${streamLoad.direct.cpuUsPerToken.model} µs)`,
    verdict: verdict(streamLoad.relayCpuUsPerToken <= 15),
  },
  {
    target: 'relayed streaming throughput vs direct, same load',
    goal: '≥ 0.97×',
    measured: `${streamLoad.ratio}× (${streamLoad.relayed.tokensPerSecond} vs ${streamLoad.direct.tokensPerSecond} tokens/s; two bare hops: ${round(bareHops.tokensPerSecond / floorDirect.tokensPerSecond, 2)}×)`,
    verdict: verdict(streamLoad.ratio >= 0.97),
  },
  {
    target: "tasks/s through one registrar vs the seed's, same hub, c32",
    goal: '≥ 1.5×',
    measured: `${seed.ratio}× (${seed.ours.tasksPerSecond} vs ${seed.seed.tasksPerSecond}; a bare registrar: ${seed.bareRatio}×)`,
    verdict: verdict(seed.ratio >= 1.5),
  },
  { target: 'tasks/s through one registrar, concurrency 64', goal: '≥ 1500', measured: String(at64?.relayedPerSecond), verdict: verdict((at64?.relayedPerSecond ?? 0) >= 1500) },
  { target: 'registrar RSS idle (llm-registrar start)', goal: '≤ 80 MB', measured: `${memory.idle.rssMb} MB`, verdict: verdict(memory.idle.rssMb <= 80) },
  {
    target: `heap after GC, ${memory.leak.tasks / 5} → ${memory.leak.tasks} tasks`,
    goal: 'no growth beyond noise (< 1 MB)',
    measured: `${memory.leak.heapGrowthMb} MB (last 40k: ${memory.leak.heapGrowthSecondHalfMb} MB)`,
    verdict: verdict(memory.leak.heapGrowthMb < 1),
  },
  heartbeats
    ? {
        target: `Redis CPU, ${heartbeats.registrars} registrars' heartbeats on three replicas`,
        goal: '≤ 5 % of a core, no PostgreSQL write',
        measured: `${heartbeats.cpuPercentOfCore.redis} % (replicas ${heartbeats.cpuPercentOfCore.replicas.join(' / ')} %; ${heartbeats.postgres.rowsWritten} rows written)`,
        verdict: verdict(heartbeats.cpuPercentOfCore.redis <= 5 && heartbeats.postgres.rowsWritten === 0),
      }
    : { target: "Redis CPU, 10000 registrars' heartbeats on three replicas", goal: '≤ 5 % of a core', measured: `not run: ${replicasMissing}`, verdict: 'MISSED' },
];
printTable(`targets (${round(minutes, 1)} min for the whole suite)`, targets);
process.stdout.write(
  `\nscale: ${scale.registrars} registrars registered in ${scale.registration.rowsMs} ms, hub ${scale.hubRssMb.withRegistrars} MB, ` +
    `${scale.heartbeat.hubCpuUsPerHeartbeat} µs of hub CPU per heartbeat; back ${scale.restart.rowsMs} ms after a hub restart\n`,
);
writeResult('summary', { minutes: round(minutes, 2), targets, relay, streaming, streamLoad, floor, seed, throughput, memory, scale, wakeup, heartbeats });
