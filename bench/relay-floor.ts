// The floor under the relay's CPU per streamed token on this machine: the load of bench/stream-load.ts (32 streams ×
// 200 tokens 5 ms apart) straight to the model server, through one and two bare proxy hops (bench/bare-proxy.ts:
// bytes piped, no parsing, nothing else), two bare hops that write at most once per 10 ms window (what our relay's
// coalescing does), and through hub + registrar. Then a plain call's added latency, one call at a time, through two
// bare hops and through hub + registrar, each relayed call right after the same call made straight; and the same for
// the first token of a short stream (20 tokens 2 ms apart). A bare hop's CPU is what any Node relay pays for its reads
// and writes alone; hub + registrar are two hops. `node --import tsx bench/relay-floor.ts [seconds]`.
import {
  closedLoop,
  interleaved,
  isMain,
  openAiProvider,
  percentile,
  printTable,
  round,
  spawnListening,
  startHubProcess,
  startModelServer,
  startRegistrarProcess,
  timedChat,
  timedStream,
  withProcesses,
  writeResult,
  type Proc,
} from './support.ts';
import { load, TOKEN_DELAY_MS, TOKENS, type StreamLoadSide } from './stream-load.ts';

const CONCURRENCY = 32;

function startBareProxy(name: string, target: string, windowMs: number): Promise<Proc & { url: string }> {
  return spawnListening(name, ['--import', 'tsx', 'bench/bare-proxy.ts', '--target', target, '--window-ms', String(windowMs)]);
}

export interface RelayFloorRow extends StreamLoadSide {
  path: string;
  /** CPU µs per token of the relay's processes together (the two hops, or hub + registrar). */
  relayUsPerToken: number;
}

export interface LatencyFloor {
  calls: number;
  directP50Ms: number;
  /** Added p50 of a plain call, one at a time: through two bare hops, and through hub + registrar. */
  bareHopsAddedP50Ms: number;
  oursAddedP50Ms: number;
  /** Added time to the first token of a stream (20 tokens 2 ms apart), the same way. */
  firstToken: { directP50Ms: number; bareHopsAddedP50Ms: number; oursAddedP50Ms: number };
}

export interface RelayFloorResult {
  rows: RelayFloorRow[];
  latency: LatencyFloor;
}

/**
 * A plain call, then a short stream's first token, one call at a time, each relayed call right after the same call
 * made straight (bench/relay-overhead.ts's way): through two bare hops, then through hub + registrar.
 */
async function latencyFloor(direct: Urls, bareHops: Urls, ours: string, calls: number): Promise<LatencyFloor> {
  const added = async (timed: (url: string) => Promise<number>, straight: string, relayed: string) => {
    await interleaved(10, () => timed(straight), () => timed(relayed));
    const times = await interleaved(calls, () => timed(straight), () => timed(relayed));
    return { direct: percentile(times.direct, 50), added: percentile(times.relayed, 50) - percentile(times.direct, 50) };
  };
  const plain = (url: string) => timedChat(url, 'instant', 1);
  const firstToken = (url: string) => timedStream(url, 'short', 1).then((call) => call.tokenArrivals[0]);
  const [bare, relayed] = [await added(plain, direct.instant, bareHops.instant), await added(plain, direct.instant, ours)];
  const [bareStream, relayedStream] = [await added(firstToken, direct.short, bareHops.short), await added(firstToken, direct.short, ours)];
  return {
    calls,
    directP50Ms: round((bare.direct + relayed.direct) / 2, 2),
    bareHopsAddedP50Ms: round(bare.added, 2),
    oursAddedP50Ms: round(relayed.added, 2),
    firstToken: { directP50Ms: round((bareStream.direct + relayedStream.direct) / 2, 2), bareHopsAddedP50Ms: round(bareStream.added, 2), oursAddedP50Ms: round(relayedStream.added, 2) },
  };
}

/** Where a plain call and a short stream go, straight or through two bare hops. */
interface Urls {
  instant: string;
  short: string;
}

/** Two bare hops in a row to `target`, as the hub and the registrar stand: the caller calls the front one. */
async function bareHops(track: <P extends Proc>(proc: P) => P, name: string, target: string, windowMs = 0) {
  const back = track(await startBareProxy(`${name}-back`, target, windowMs));
  const front = track(await startBareProxy(`${name}-front`, back.url, windowMs));
  return { url: front.url, front, back };
}

/** Two runs of one path, each the same length: their mean. */
function average(a: StreamLoadSide, b: StreamLoadSide): StreamLoadSide {
  const mean = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? undefined : round((x + y) / 2, 1));
  return {
    tokensPerSecond: Math.round((a.tokensPerSecond + b.tokensPerSecond) / 2),
    streams: a.streams + b.streams,
    errors: a.errors + b.errors,
    eventsPerStream: mean(a.eventsPerStream, b.eventsPerStream)!,
    cpuUsPerToken: { model: mean(a.cpuUsPerToken.model, b.cpuUsPerToken.model)!, hub: mean(a.cpuUsPerToken.hub, b.cpuUsPerToken.hub), registrar: mean(a.cpuUsPerToken.registrar, b.cpuUsPerToken.registrar) },
  };
}

export async function runRelayFloor(options: { seconds?: number; calls?: number } = {}): Promise<RelayFloorResult> {
  const seconds = options.seconds ?? 3;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('floor-model', { tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS }));
    const instant = track(await startModelServer('floor-model-instant', { tokens: 8, tokenDelayMs: 0 }));
    const short = track(await startModelServer('floor-model-short', { tokens: 20, tokenDelayMs: 2 }));
    const oneHop = track(await startBareProxy('floor-one-hop', model.url, 0));
    const [twoHops, windowed, instantHops, shortHops] = [
      await bareHops(track, 'floor-hops', model.url),
      await bareHops(track, 'floor-windowed', model.url, 10),
      await bareHops(track, 'floor-instant', instant.url),
      await bareHops(track, 'floor-short', short.url),
    ];
    const hub = track(await startHubProcess('floor-hub'));
    const providers = [openAiProvider('bench', `${model.url}/v1`, CONCURRENCY), openAiProvider('instant', `${instant.url}/v1`), openAiProvider('short', `${short.url}/v1`)];
    const registrar = track(await startRegistrarProcess('floor-registrar', hub.url, providers));
    // `hub` and `registrar` name the front and the back hop: the places they stand in.
    const paths: { path: string; url: string; relay: Record<string, Proc> }[] = [
      { path: 'direct', url: model.url, relay: {} },
      { path: 'one bare hop', url: oneHop.url, relay: { hub: oneHop } },
      { path: 'two bare hops', url: twoHops.url, relay: { hub: twoHops.front, registrar: twoHops.back } },
      { path: 'two bare hops, 10 ms window', url: windowed.url, relay: { hub: windowed.front, registrar: windowed.back } },
      { path: 'hub + registrar', url: hub.url, relay: { hub, registrar } },
    ];
    // Each path twice, in order and then in reverse, so a machine that slows or speeds up meanwhile weighs on all alike.
    const measured = new Map<string, StreamLoadSide[]>();
    for (const pass of [paths, [...paths].reverse()]) {
      for (const { path, url, relay } of pass) {
        await closedLoop(CONCURRENCY, 1_000, () => timedStream(url, 'bench', CONCURRENCY).then((call) => call.totalMs));
        measured.set(path, [...(measured.get(path) ?? []), await load(url, CONCURRENCY, seconds, { model, ...relay })]);
      }
    }
    const rows = paths.map(({ path }): RelayFloorRow => {
      const [first, second] = measured.get(path)!;
      const side = average(first, second);
      return { path, ...side, relayUsPerToken: round((side.cpuUsPerToken.hub ?? 0) + (side.cpuUsPerToken.registrar ?? 0), 1) };
    });
    printTable(
      `the relay's floor: ${CONCURRENCY} streams × ${TOKENS} tokens ${TOKEN_DELAY_MS} ms apart, 2 × ${seconds} s each (front hop: the hub's place; back hop: the registrar's)`,
      rows.map((row) => ({
        path: row.path,
        'tokens/s': row.tokensPerSecond,
        errors: row.errors,
        'µs/token model': row.cpuUsPerToken.model,
        'µs/token front': row.cpuUsPerToken.hub ?? '-',
        'µs/token back': row.cpuUsPerToken.registrar ?? '-',
        'µs/token relay': row.path === 'direct' ? '-' : row.relayUsPerToken,
      })),
    );
    const latency = await latencyFloor({ instant: instant.url, short: short.url }, { instant: instantHops.url, short: shortHops.url }, hub.url, options.calls ?? 100);
    printTable(
      `added p50, one call at a time, each after the same call straight, ${latency.calls} calls (direct: plain ${latency.directP50Ms} ms, first token ${latency.firstToken.directP50Ms} ms)`,
      [
        { path: 'two bare hops', 'plain call ms': latency.bareHopsAddedP50Ms, 'first token ms': latency.firstToken.bareHopsAddedP50Ms },
        { path: 'hub + registrar', 'plain call ms': latency.oursAddedP50Ms, 'first token ms': latency.firstToken.oursAddedP50Ms },
      ],
    );
    const result = { rows, latency };
    writeResult('relay-floor', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runRelayFloor({ seconds: process.argv[2] ? Number(process.argv[2]) : undefined });
