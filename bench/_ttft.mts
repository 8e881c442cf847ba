import { openAiProvider, percentile, startHubProcess, startModelServer, startRegistrarProcess, timedStream, withProcesses } from './support.ts';
for (const delay of [0, 2]) {
  await withProcesses(async (track) => {
    const model = track(await startModelServer(`t-model-${delay}`, { tokens: 20, tokenDelayMs: delay }));
    const hub = track(await startHubProcess('t-hub'));
    track(await startRegistrarProcess('t-reg', hub.url, [openAiProvider('bench', `${model.url}/v1`)]));
    for (let i = 0; i < 20; i++) { await timedStream(model.url, 'bench'); await timedStream(hub.url, 'bench'); }
    const d: number[] = [], r: number[] = [];
    for (let i = 0; i < 100; i++) { d.push((await timedStream(model.url, 'bench')).tokenArrivals[0]); r.push((await timedStream(hub.url, 'bench')).tokenArrivals[0]); }
    console.log(`delay ${delay}: direct ttft p50 ${percentile(d, 50).toFixed(2)} relayed ${percentile(r, 50).toFixed(2)} added ${(percentile(r, 50) - percentile(d, 50)).toFixed(2)}`);
  });
}
