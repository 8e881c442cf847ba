import { closedLoop, cpuSplit, openAiProvider, startHubProcess, startModelServer, startRegistrarProcess, timedChat, withProcesses } from './support.ts';
await withProcesses(async (track) => {
  const model = track(await startModelServer('x-model', { tokens: 8, tokenDelayMs: 0 }));
  const hub = track(await startHubProcess('x-hub'));
  const reg = track(await startRegistrarProcess('x-reg', hub.url, [openAiProvider('bench', `${model.url}/v1`, 256)]));
  for (const c of (process.argv[2] ?? '1,8,64').split(',').map(Number)) {
    await closedLoop(c, 500, () => timedChat(hub.url, 'bench', c));
    const b = { h: cpuSplit(hub.pid), r: cpuSplit(reg.pid), m: cpuSplit(model.pid) };
    const r = await closedLoop(c, 3000, () => timedChat(hub.url, 'bench', c));
    const a = { h: cpuSplit(hub.pid), r: cpuSplit(reg.pid), m: cpuSplit(model.pid) };
    const f = (k: 'h'|'r'|'m') => `${k} user ${((a[k].user - b[k].user)/r.seconds).toFixed(2)} sys ${((a[k].system - b[k].system)/r.seconds).toFixed(2)}`;
    console.log(`c=${c} ${Math.round(r.completed / r.seconds)}/s  ${f('h')} | ${f('r')} | ${f('m')}`);
  }
});
