import { closedLoop, cpuSplit, openAiProvider, sleep, startHubProcess, startModelServer, startRegistrarProcess, timedChat, withProcesses } from './support.ts';
await withProcesses(async (track) => {
  const model = track(await startModelServer('x-model', { tokens: 8, tokenDelayMs: 0 }));
  const hub = track(await startHubProcess('x-hub'));
  const reg = track(await startRegistrarProcess('x-reg', hub.url, [openAiProvider('bench', `${model.url}/v1`, 256)]));
  const idle = async (label: string) => { const b = cpuSplit(reg.pid); await sleep(2000); const a = cpuSplit(reg.pid); console.log(label, 'idle registrar cpu/s', ((a.user - b.user) / 2).toFixed(3), ((a.system - b.system) / 2).toFixed(3)); };
  await idle('fresh');
  for (const c of [1, 1, 64, 1]) {
    const b = cpuSplit(reg.pid);
    const r = await closedLoop(c, 3000, () => timedChat(hub.url, 'bench', c));
    const a = cpuSplit(reg.pid);
    console.log(`c=${c} ${Math.round(r.completed / r.seconds)}/s registrar user ${((a.user - b.user) / r.seconds).toFixed(2)} sys ${((a.system - b.system) / r.seconds).toFixed(2)}  us/task ${Math.round(1e6 * (a.user + a.system - b.user - b.system) / r.completed)}`);
    await idle('after');
  }
});
