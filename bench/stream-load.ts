// Streaming under load: 32 concurrent streams of 200 tokens 5 ms apart (~6,000 tokens/s, a busy team on one GPU box),
// straight to the model server and then through hub + registrar. Prints the tokens/s each way and the CPU each
// process spent per streamed token (from /proc): what the relay costs the machine that runs the model.
import {
  closedLoop,
  cpuSeconds,
  isMain,
  openAiProvider,
  printTable,
  round,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  timedStream,
  withProcesses,
  writeResult,
  type Proc,
} from './support.ts';

export const TOKENS = 200;
export const TOKEN_DELAY_MS = 5;

export interface StreamLoadSide {
  tokensPerSecond: number;
  streams: number;
  errors: number;
  /** SSE events with content the caller got per stream (200 when every token is its own chunk). */
  eventsPerStream: number;
  /** CPU µs per streamed token, by process. */
  cpuUsPerToken: { model: number; hub?: number; registrar?: number };
}

export interface StreamLoadResult {
  concurrency: number;
  tokens: number;
  tokenDelayMs: number;
  seconds: number;
  direct: StreamLoadSide;
  relayed: StreamLoadSide;
  /** Relayed tokens/s over direct. */
  ratio: number;
  /** Hub + registrar CPU µs per relayed token. */
  relayCpuUsPerToken: number;
}

/** `concurrency` streams in a closed loop for `seconds`; the CPU each of `procs` spent per token meanwhile. */
export async function load(url: string, concurrency: number, seconds: number, procs: Record<string, Proc>): Promise<StreamLoadSide> {
  let tokens = 0;
  let events = 0;
  const before = Object.fromEntries(Object.entries(procs).map(([name, proc]) => [name, cpuSeconds(proc.pid)]));
  const run = await closedLoop(concurrency, seconds * 1000, async () => {
    const call = await timedStream(url, 'bench', concurrency);
    if (call.tokenArrivals.length !== TOKENS) throw new Error(`a streamed answer had ${call.tokenArrivals.length} tokens, not ${TOKENS}`);
    tokens += TOKENS;
    events += call.contentEvents;
    return call.totalMs;
  });
  const perToken = (name: string) => round(((cpuSeconds(procs[name].pid) - before[name]) * 1e6) / Math.max(1, tokens), 1);
  return {
    tokensPerSecond: round(tokens / run.seconds, 0),
    streams: run.completed,
    errors: run.errors,
    eventsPerStream: round(events / Math.max(1, run.completed), 1),
    cpuUsPerToken: Object.fromEntries(Object.keys(procs).map((name) => [name, perToken(name)])) as StreamLoadSide['cpuUsPerToken'],
  };
}

export async function runStreamLoad(options: { concurrency?: number; seconds?: number } = {}): Promise<StreamLoadResult> {
  const concurrency = options.concurrency ?? 32;
  // BENCH_COALESCE_MS: the registrar's chunkCoalesceMs (its default when unset), to weigh CPU against added delay.
  const timing: Record<string, number> = process.env.BENCH_COALESCE_MS ? { chunkCoalesceMs: Number(process.env.BENCH_COALESCE_MS) } : {};
  const seconds = options.seconds ?? 6;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('stream-load-model', { tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS }));
    const hub = track(await startHubProcess('stream-load-hub'));
    const registrar = track(await startRegistrarProcess('stream-load-registrar', hub.url, [openAiProvider('bench', `${model.url}/v1`, concurrency)], { timing }));
    await closedLoop(concurrency, 1_500, () => timedStream(model.url, 'bench', concurrency).then((c) => c.totalMs));
    await closedLoop(concurrency, 1_500, () => timedStream(hub.url, 'bench', concurrency).then((c) => c.totalMs));
    const direct = await load(model.url, concurrency, seconds, { model });
    const relayed = await load(hub.url, concurrency, seconds, { model, hub, registrar });
    const result: StreamLoadResult = {
      concurrency,
      tokens: TOKENS,
      tokenDelayMs: TOKEN_DELAY_MS,
      seconds,
      direct,
      relayed,
      ratio: round(relayed.tokensPerSecond / direct.tokensPerSecond, 3),
      relayCpuUsPerToken: round((relayed.cpuUsPerToken.hub ?? 0) + (relayed.cpuUsPerToken.registrar ?? 0), 1),
    };
    printTable(`stream load: ${concurrency} concurrent streams × ${TOKENS} tokens ${TOKEN_DELAY_MS} ms apart, ${seconds} s each way`, [
      { path: 'direct', 'tokens/s': direct.tokensPerSecond, streams: direct.streams, errors: direct.errors, 'events/stream': direct.eventsPerStream, 'µs/token model': direct.cpuUsPerToken.model, 'µs/token hub': '-', 'µs/token registrar': '-' },
      {
        path: 'hub + registrar',
        'tokens/s': relayed.tokensPerSecond,
        streams: relayed.streams,
        errors: relayed.errors,
        'events/stream': relayed.eventsPerStream,
        'µs/token model': relayed.cpuUsPerToken.model,
        'µs/token hub': relayed.cpuUsPerToken.hub ?? '-',
        'µs/token registrar': relayed.cpuUsPerToken.registrar ?? '-',
      },
    ]);
    process.stdout.write(`relayed/direct ${result.ratio}; relay CPU ${result.relayCpuUsPerToken} µs per token (hub + registrar)\n`);
    writeResult('stream-load', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runStreamLoad();
