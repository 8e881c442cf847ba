// Relay overhead: a non-streaming completion through hub + registrar against the same call made directly to the
// model server, one call at a time, interleaved so both see the same machine; the model answers at once. Then the
// same after every process sat idle a while (each call 250 ms after the last): the code runs cold, and the relay
// has two more processes to run it in. That is what a streamed call's first token meets (bench/streaming.ts).
// Last, a coding agent's call (32 tools, ~20 kB) the same way: what the `openai` passthrough costs on a big body.
import {
  agentBody,
  isMain,
  interleaved,
  percentile,
  printTable,
  round,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  openAiProvider,
  timedChat,
  withProcesses,
  writeResult,
} from './support.ts';

export interface RelayOverheadResult {
  calls: number;
  direct: { p50: number; p90: number; p99: number };
  relayed: { p50: number; p90: number; p99: number };
  addedP50Ms: number;
  addedP99Ms: number;
  afterIdle: { idleMs: number; calls: number; directP50: number; relayedP50: number; addedP50Ms: number };
  agent: { bodyBytes: number; calls: number; directP50: number; relayedP50: number; addedP50Ms: number };
}

export async function runRelayOverhead(options: { calls?: number; warmup?: number; idleCalls?: number; idleMs?: number; agentCalls?: number } = {}): Promise<RelayOverheadResult> {
  const calls = options.calls ?? 2_000;
  const warmup = options.warmup ?? 300;
  const idleCalls = options.idleCalls ?? 30;
  const idleMs = options.idleMs ?? 250;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('relay-model', { tokens: 8, tokenDelayMs: 0 }));
    const hub = track(await startHubProcess('relay-hub'));
    track(await startRegistrarProcess('relay-registrar', hub.url, [openAiProvider('bench', `${model.url}/v1`)]));

    const direct = () => timedChat(model.url, 'bench');
    const relayed = () => timedChat(hub.url, 'bench');
    await interleaved(warmup, direct, relayed);
    const warm = await interleaved(calls, direct, relayed);
    const afterIdle = await interleaved(idleCalls, direct, relayed, idleMs);
    const agentCalls = options.agentCalls ?? 500;
    const agent = await interleaved(agentCalls, () => timedChat(model.url, 'bench', 16, agentBody('bench')), () => timedChat(hub.url, 'bench', 16, agentBody('bench')));
    const stats = (v: number[]) => ({ p50: round(percentile(v, 50), 3), p90: round(percentile(v, 90), 3), p99: round(percentile(v, 99), 3) });
    const result: RelayOverheadResult = {
      calls,
      direct: stats(warm.direct),
      relayed: stats(warm.relayed),
      addedP50Ms: round(percentile(warm.relayed, 50) - percentile(warm.direct, 50), 3),
      addedP99Ms: round(percentile(warm.relayed, 99) - percentile(warm.direct, 99), 3),
      afterIdle: {
        idleMs,
        calls: idleCalls,
        directP50: round(percentile(afterIdle.direct, 50), 3),
        relayedP50: round(percentile(afterIdle.relayed, 50), 3),
        addedP50Ms: round(percentile(afterIdle.relayed, 50) - percentile(afterIdle.direct, 50), 3),
      },
      agent: {
        bodyBytes: Buffer.byteLength(agentBody('bench')),
        calls: agentCalls,
        directP50: round(percentile(agent.direct, 50), 3),
        relayedP50: round(percentile(agent.relayed, 50), 3),
        addedP50Ms: round(percentile(agent.relayed, 50) - percentile(agent.direct, 50), 3),
      },
    };
    printTable(`relay overhead: non-streaming, model answers at once, ${calls} calls each, one at a time (ms)`, [
      { path: 'direct', ...result.direct },
      { path: 'hub + registrar', ...result.relayed },
      { path: 'added', p50: result.addedP50Ms, p90: round(result.relayed.p90 - result.direct.p90, 3), p99: result.addedP99Ms },
    ]);
    printTable(`relay overhead after ${idleMs} ms idle: ${idleCalls} calls each (ms)`, [
      { path: 'direct', p50: result.afterIdle.directP50 },
      { path: 'hub + registrar', p50: result.afterIdle.relayedP50 },
      { path: 'added', p50: result.afterIdle.addedP50Ms },
    ]);
    printTable(`relay overhead, a coding agent's call (32 tools, ${result.agent.bodyBytes} bytes): ${agentCalls} calls each (ms)`, [
      { path: 'direct', p50: result.agent.directP50 },
      { path: 'hub + registrar', p50: result.agent.relayedP50 },
      { path: 'added', p50: result.agent.addedP50Ms },
    ]);
    writeResult('relay-overhead', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runRelayOverhead();
