// Scale: one hub (a process) and 1,000 registrars × 2 providers on loopback, the registrars split over child
// processes (bench/scale-registrars.ts, startDaemon in-process). Registration time, the hub's CPU per heartbeat
// (heartbeats every second here, the figure scaled to the 30 s default), the hub's RSS, and how long every registrar
// takes to be back (rows registered, task streams open) after the hub is killed and started again on its port.
import { cpuSeconds, isMain, printTable, round, rssMb, sleep, spawnNode, startHubProcess, TOKEN, authHeaders, request, withProcesses, writeResult, askingChild, type AskingChild } from './support.ts';

const DEFAULT_HEARTBEAT_MS = 30_000;


async function activeRows(hubUrl: string): Promise<number> {
  try {
    const reply = await request(`${hubUrl}/api/v1/llms`, { headers: authHeaders });
    if (reply.status !== 200) return 0;
    return (JSON.parse(reply.body) as { status: string }[]).filter((row) => row.status === 'active').length;
  } catch {
    return 0;
  }
}

async function openStreams(children: AskingChild[]): Promise<number> {
  const counts = await Promise.all(children.map((c) => c.ask<{ open: number }>({ cmd: 'count' }, 'open')));
  return counts.reduce((sum, c) => sum + c.open, 0);
}

/** ms until the hub lists `rows` active rows and every registrar has its task stream open. */
async function timeUntilAllBack(hubUrl: string, children: AskingChild[], registrars: number, started: number, timeoutMs: number): Promise<{ rowsMs: number; streamsMs: number }> {
  let rowsMs = NaN;
  let streamsMs = NaN;
  while (performance.now() - started < timeoutMs && (Number.isNaN(rowsMs) || Number.isNaN(streamsMs))) {
    if (Number.isNaN(rowsMs) && (await activeRows(hubUrl)) >= registrars * 2) rowsMs = performance.now() - started;
    if (Number.isNaN(streamsMs) && (await openStreams(children)) >= registrars) streamsMs = performance.now() - started;
    await sleep(50);
  }
  return { rowsMs: round(rowsMs, 0), streamsMs: round(streamsMs, 0) };
}

export interface ScaleResult {
  registrars: number;
  providersPerRegistrar: number;
  processes: number;
  registration: { rowsMs: number; streamsMs: number; cpuSeconds: { hub: number; registrars: number } };
  hubRssMb: { idle: number; withRegistrars: number };
  heartbeat: { intervalMs: number; hubCpuUsPerHeartbeat: number; hubCoreShareAtDefault: number; hubCoreShareMeasured: number };
  restart: { hubDownMs: number; rowsMs: number; streamsMs: number; backoffBaseMs: number; heartbeatMs: number; cpuSeconds: { hub: number; registrars: number } };
}

export async function runScale(options: { registrars?: number; processes?: number; heartbeatMs?: number; windowMs?: number } = {}): Promise<ScaleResult> {
  const registrars = options.registrars ?? 1_000;
  const processes = options.processes ?? 4;
  const heartbeatMs = options.heartbeatMs ?? 1_000;
  const windowMs = options.windowMs ?? 5_000;
  const timing = { heartbeatMs, backoffBaseMs: 1_000, backoffCapMs: 5_000, requestTimeoutMs: 10_000 };
  return withProcesses(async (track) => {
    let hub = await startHubProcess('scale-hub');
    const hubPort = hub.port;
    await sleep(500);
    const hubIdleRss = rssMb(hub.pid);
    const children = await Promise.all(
      Array.from({ length: processes }, async (_, i) => {
        const child = askingChild(track(spawnNode(`scale-registrars-${i}`, ['--import', 'tsx', 'bench/scale-registrars.ts'], { ipc: true })));
        await child.ask(undefined, 'ready');
        return child;
      }),
    );

    const per = Math.ceil(registrars / processes);
    const cpuOf = () => ({ hub: cpuSeconds(hub.pid), registrars: children.reduce((sum, c) => sum + cpuSeconds(c.proc.pid), 0) });
    const regCpu0 = cpuOf();
    const t0 = performance.now();
    for (const [i, child] of children.entries()) {
      child.proc.child.send({ cmd: 'start', hubUrl: hub.url, token: TOKEN, from: i * per, count: Math.min(per, registrars - i * per), timing });
    }
    const registration = await timeUntilAllBack(hub.url, children, registrars, t0, 120_000);
    const regCpu1 = cpuOf();

    // Steady state: heartbeats only (and the streams' keep-alive comments, counted in).
    await sleep(heartbeatMs * 2);
    const withRegistrars = rssMb(hub.pid);
    const cpuBefore = cpuSeconds(hub.pid);
    const w0 = performance.now();
    await sleep(windowMs);
    const cpuUsed = cpuSeconds(hub.pid) - cpuBefore;
    const seconds = (performance.now() - w0) / 1000;
    const heartbeats = registrars * (seconds * 1000 / heartbeatMs);
    const usPerHeartbeat = (cpuUsed * 1e6) / heartbeats;

    // The hub dies (SIGKILL: no goodbye to anyone) and comes back on its port with nothing in memory.
    const k0 = performance.now();
    await hub.stop('SIGKILL');
    hub = await startHubProcess('scale-hub-restarted', hubPort);
    const hubDownMs = performance.now() - k0;
    const restartCpu0 = { hub: 0, registrars: cpuOf().registrars };
    const restart = await timeUntilAllBack(hub.url, children, registrars, performance.now(), 120_000);
    const restartCpu1 = cpuOf();
    const hubAfter = hub;

    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      c.proc.child.once('exit', () => resolve());
      c.proc.child.send({ cmd: 'stop' });
      setTimeout(resolve, 15_000);
    })));
    await hubAfter.stop();

    const result: ScaleResult = {
      registrars,
      providersPerRegistrar: 2,
      processes,
      registration: { ...registration, cpuSeconds: { hub: round(regCpu1.hub - regCpu0.hub, 2), registrars: round(regCpu1.registrars - regCpu0.registrars, 2) } },
      hubRssMb: { idle: round(hubIdleRss, 1), withRegistrars: round(withRegistrars, 1) },
      heartbeat: {
        intervalMs: heartbeatMs,
        hubCpuUsPerHeartbeat: round(usPerHeartbeat, 1),
        hubCoreShareMeasured: round(cpuUsed / seconds, 3),
        hubCoreShareAtDefault: round((usPerHeartbeat * registrars) / DEFAULT_HEARTBEAT_MS / 1000, 4),
      },
      restart: {
        hubDownMs: round(hubDownMs, 0),
        rowsMs: restart.rowsMs,
        streamsMs: restart.streamsMs,
        backoffBaseMs: timing.backoffBaseMs,
        heartbeatMs,
        cpuSeconds: { hub: round(restartCpu1.hub, 2), registrars: round(restartCpu1.registrars - restartCpu0.registrars, 2) },
      },
    };
    printTable(`scale: one hub, ${registrars} registrars × 2 providers (${processes} processes of registrars), loopback`, [
      { figure: 'registration: all rows active (ms)', value: result.registration.rowsMs },
      { figure: 'registration: all task streams open (ms)', value: result.registration.streamsMs },
      { figure: 'registration: CPU s, hub / registrar processes', value: `${result.registration.cpuSeconds.hub} / ${result.registration.cpuSeconds.registrars}` },
      { figure: 'hub RSS idle / with registrars (MB)', value: `${result.hubRssMb.idle} / ${result.hubRssMb.withRegistrars}` },
      { figure: `hub CPU per heartbeat (µs; heartbeats every ${heartbeatMs} ms)`, value: result.heartbeat.hubCpuUsPerHeartbeat },
      { figure: `hub CPU measured, share of a core (${registrars * 1000 / heartbeatMs} heartbeats/s)`, value: result.heartbeat.hubCoreShareMeasured },
      { figure: 'hub CPU at the 30 s default, share of a core', value: `${round(result.heartbeat.hubCoreShareAtDefault * 100, 2)} %` },
      { figure: 'hub restart: down until listening again (ms)', value: result.restart.hubDownMs },
      { figure: 'hub restart: all rows back (ms after listening)', value: result.restart.rowsMs },
      { figure: 'hub restart: all streams open (ms after listening)', value: result.restart.streamsMs },
      { figure: 'hub restart: CPU s, new hub (since its start) / registrar processes', value: `${result.restart.cpuSeconds.hub} / ${result.restart.cpuSeconds.registrars}` },
    ]);
    writeResult('scale', result);
    return result;
  });
}

if (isMain(import.meta.url)) await runScale();
