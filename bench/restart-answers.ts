// A registrar (`llm-registrar start`, a process of its own) restarting with N tasks in flight in its state file
// (default 20,000): how long until the hub holds `registrar restarted` for every one, the registrar's CPU for it,
// and how fast its status server answers meanwhile. The hub is the script hub, in this process.
//   node --import tsx bench/restart-answers.ts [N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startScriptHub } from '../test/support/script-hub.ts';
import { cpuSeconds, freePort, isMain, percentile, printTable, request, ROOT, round, sleep, spawnNode, waitFor, writeRegistrarConfig, writeResult } from './support.ts';

export async function restartAnswers(tasks = 20_000) {
  const hub = await startScriptHub({ keepAliveMs: 1_000 });
  const config = writeRegistrarConfig(hub.url, [{ name: 'demo', type: 'demo', model: 'demo' }]);
  mkdirSync(config.stateDir, { recursive: true });
  const inFlight = Array.from({ length: tasks }, (_, n) => ({ taskId: `restarted-${n}`, llmName: 'demo' }));
  const facts = { sessionId: 'bench-session-of-the-last-run', providers: {}, inFlight };
  writeFileSync(join(config.stateDir, 'state.json'), JSON.stringify({ version: 1, savedAt: new Date().toISOString(), facts }), { mode: 0o600 });
  const statusPort = await freePort();
  const load = loadavg()[0];

  const started = performance.now();
  const registrar = spawnNode('restart-registrar', [join(ROOT, 'bin', 'llm-registrar'), 'start', '--config', config.configPath, '--state-dir', config.stateDir, '--status-port', String(statusPort)]);
  try {
    await waitFor(async () => (await request(`http://127.0.0.1:${statusPort}/status`)).status === 200, 30_000, 'the status server');
    const statusUp = performance.now() - started;
    const statusMs: number[] = [];
    let firstResultAt: number | undefined;
    while (hub.results.size < tasks) {
      const asked = performance.now();
      const { status } = await request(`http://127.0.0.1:${statusPort}/status`);
      if (status !== 200) throw new Error(`the status server answered ${status} while the restarted tasks were answered`);
      statusMs.push(performance.now() - asked);
      if (firstResultAt === undefined && hub.results.size > 0) firstResultAt = performance.now();
      if (performance.now() - started > 120_000) throw new Error(`only ${hub.results.size} of ${tasks} answered after 120 s`);
      await sleep(50);
    }
    const allAnswered = performance.now() - started;
    const row = {
      tasks,
      'status up (ms)': round(statusUp, 0),
      'all answered (ms, from spawn)': round(allAnswered, 0),
      'first → last result (ms)': round(allAnswered - (firstResultAt ?? started), 0),
      'result POSTs': hub.resultPosts.length,
      'registrar CPU (s)': round(cpuSeconds(registrar.pid), 2),
      '/status p50 / max (ms)': `${round(percentile(statusMs, 50), 1)} / ${round(Math.max(...statusMs), 1)}`,
      'load average': round(load, 1),
    };
    printTable('restart with tasks in flight (registrar restarted)', [row]);
    return { row, path: writeResult('restart-answers', { row }) };
  } finally {
    await registrar.stop();
    await hub.close();
    config.cleanup();
  }
}

if (isMain(import.meta.url)) await restartAnswers(Number(process.argv[2] ?? 20_000));
