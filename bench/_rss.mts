import { openAiProvider, rssMb, sleep, spawnNode, startHubProcess, startModelServer, waitFor, withProcesses, writeRegistrarConfig, request, authHeaders } from './support.ts';
await withProcesses(async (track) => {
  const model = track(await startModelServer('rss-model', { tokens: 8, tokenDelayMs: 0 }));
  const hub = track(await startHubProcess('rss-hub'));
  for (const [label, args] of [['tsx (bin/llm-registrar)', ['bin/llm-registrar']], ['compiled bundle', ['bench/results/build/cli.mjs']]] as const) {
    const cfg = writeRegistrarConfig(hub.url, [openAiProvider(`p-${label.length}`, `${model.url}/v1`)]);
    const p = track(spawnNode(`rss-${label.length}`, [...args, 'start', '--config', cfg.configPath, '--state-dir', cfg.stateDir]));
    await waitFor(async () => (await request(`${hub.url}/api/v1/llms`, { headers: authHeaders })).body.includes(`p-${label.length}`), 20000, 'register');
    await sleep(2000);
    console.log(label, 'idle RSS MB', rssMb(p.pid).toFixed(1));
    await p.stop();
    cfg.cleanup();
  }
});
