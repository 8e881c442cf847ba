import { closedLoop, cpuSplit, openAiProvider, startHubProcess, startModelServer, startRegistrarProcess, timedChat, timedStream, withProcesses } from './support.ts';
const levels = (process.argv[2] ?? '64,64,64').split(',').map(Number);
await withProcesses(async (track) => {
  const model = track(await startModelServer('x-model', { tokens: 8, tokenDelayMs: 0 }));
  const hub = track(await startHubProcess('x-hub'));
  const reg = track(await startRegistrarProcess('x-reg', hub.url, [openAiProvider('bench', `${model.url}/v1`, 256)]));
  await closedLoop(8, 1000, () => timedChat(hub.url, 'bench', 8));
  for (const c of levels) {
    const b = { r: cpuSplit(reg.pid), h: cpuSplit(hub.pid) };
    const r = await closedLoop(c, 3000, () => timedChat(hub.url, 'bench', c));
    const a = { r: cpuSplit(reg.pid), h: cpuSplit(hub.pid) };
    const us = (k: 'r' | 'h') => Math.round(1e6 * (a[k].user + a[k].system - b[k].user - b[k].system) / r.completed);
    console.log(`c=${c} ${Math.round(r.completed / r.seconds)}/s registrar ${us('r')} us/task (cores ${((a.r.user + a.r.system - b.r.user - b.r.system) / r.seconds).toFixed(2)})  hub ${us('h')} us/task  load ${(await import('node:os')).loadavg()[0].toFixed(2)}`);
  }
});
