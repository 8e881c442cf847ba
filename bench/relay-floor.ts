// The floor under the relay's CPU per streamed token on this machine: the load of bench/stream-load.ts (32 streams ×
// 200 tokens 5 ms apart) straight to the model server, through one and two bare proxy hops (bench/bare-proxy.ts:
// bytes piped, no parsing, nothing else), two bare hops that write at most once per 10 ms window (what our relay's
// coalescing does), and through hub + registrar. Then a plain call's added latency, one call at a time, through two
// bare hops and through hub + registrar, each relayed call right after the same call made straight; and the same for
// the first token of a short stream (20 tokens 2 ms apart). A bare hop's CPU is what any Node relay pays for its reads and
// writes alone; hub + registrar are two hops. `node --import tsx bench/relay-floor.ts [seconds]`.
import { interleaved, isMain, percentile, printTable, round, spawnNode, timedChat, startHubProcess, startModelServer, startRegistrarProcess, openAiProvider, closedLoop, timedStream, withProcesses, writeResult, type Proc } from './support.ts';
import { load, TOKEN_DELAY_MS, TOKENS, type StreamLoadSide } from './stream-load.ts';

const CONCURRENCY = 32;

async function startBareProxy(name: string, target: string, windowMs: number): Promise<Proc & { url: string }> {
  const proc = spawnNode(name, ['--import', 'tsx', 'bench/bare-proxy.ts', '--target', target, '--window-ms', String(windowMs)], { readFirstLine: true });
  const { url } = JSON.parse(await proc.firstLine!) as { url: string };
  return { ...proc, url };
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
 * A plain call one at a time, each relayed call right after the same call made straight (bench/relay-overhead.ts's
 * way): through two bare hops, then through hub + registrar.
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

export async function runRelayFloor(options: { seconds?: number; calls?: number } = {}): Promise<RelayFloorResult> {
  const seconds = options.seconds ?? 3;
  return withProcesses(async (track) => {
    const model = track(await startModelServer('floor-model', { tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS }));
    const oneHop = track(await startBareProxy('floor-one-hop', model.url, 0));
    const backHop = track(await startBareProxy('floor-back-hop', model.url, 0));
    const frontHop = track(await startBareProxy('floor-front-hop', backHop.url, 0));
    const backWindowed = track(await startBareProxy('floor-back-windowed', model.url, 10));
    const frontWindowed = track(await startBareProxy('floor-front-windowed', backWindowed.url, 10));
    const instant = track(await startModelServer('floor-model-instant', { tokens: 8, tokenDelayMs: 0 }));
    const instantBack = track(await startBareProxy('floor-back-instant', instant.url, 0));
    const instantFront = track(await startBareProxy('floor-front-instant', instantBack.url, 0));
    const short = track(await startModelServer('floor-model-short', { tokens: 20, tokenDelayMs: 2 }));
    const shortBack = track(await startBareProxy('floor-back-short', short.url, 0));
    const shortFront = track(await startBareProxy('floor-front-short', shortBack.url, 0));
    const hub = track(await startHubProcess('floor-hub'));
    const registrar = track(
      await startRegistrarProcess('floor-registrar', hub.url, [openAiProvider('bench', `${model.url}/v1`, CONCURRENCY), openAiProvider('instant', `${instant.url}/v1`), openAiProvider('short', `${short.url}/v1`)]),
    );
    const paths: { path: string; url: string; relay: Record<string, Proc> }[] = [
      { path: 'direct', url: model.url, relay: {} },
      { path: 'one bare hop', url: oneHop.url, relay: { hub: oneHop } },
      { path: 'two bare hops', url: frontHop.url, relay: { hub: frontHop, registrar: backHop } },
      { path: 'two bare hops, 10 ms window', url: frontWindowed.url, relay: { hub: frontWindowed, registrar: backWindowed } },
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
      const [a, b] = measured.get(path)!;
      const both = (pick: (side: StreamLoadSide) => number | undefined) => (pick(a) === undefined ? undefined : round((pick(a)! + pick(b)!) / 2, 1));
      const side: StreamLoadSide = {
        tokensPerSecond: Math.round(both((s) => s.tokensPerSecond)!),
        streams: a.streams + b.streams,
        errors: a.errors + b.errors,
        eventsPerStream: both((s) => s.eventsPerStream)!,
        cpuUsPerToken: { model: both((s) => s.cpuUsPerToken.model)!, hub: both((s) => s.cpuUsPerToken.hub), registrar: both((s) => s.cpuUsPerToken.registrar) },
      };
      return { path, ...side, relayUsPerToken: round((side.cpuUsPerToken.hub ?? 0) + (side.cpuUsPerToken.registrar ?? 0), 1) };
    });
    printTable(`the relay's floor: ${CONCURRENCY} streams × ${TOKENS} tokens ${TOKEN_DELAY_MS} ms apart, 2 × ${seconds} s each (front hop = hub's place, back hop = registrar's)`, rows.map((row) => ({
      path: row.path,
      'tokens/s': row.tokensPerSecond,
      errors: row.errors,
      'µs/token model': row.cpuUsPerToken.model,
      'µs/token front': row.cpuUsPerToken.hub ?? '-',
      'µs/token back': row.cpuUsPerToken.registrar ?? '-',
      'µs/token relay': row.path === 'direct' ? '-' : row.relayUsPerToken,
    })));
    const latency = await latencyFloor({ instant: instant.url, short: short.url }, { instant: instantFront.url, short: shortFront.url }, hub.url, options.calls ?? 100);
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
