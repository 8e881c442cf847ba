import http from 'node:http';
import { startModelServer, withProcesses, chatBody } from './support.ts';
await withProcesses(async (track) => {
  const model = track(await startModelServer('fv-model', { tokens: 8, tokenDelayMs: 0 }));
  const url = `${model.url}/v1/chat/completions`;
  const body = chatBody('bench');
  const agent = new http.Agent({ keepAlive: true });
  const viaFetch = async () => { const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: new AbortController().signal }); const reader = r.body!.getReader(); let t = ''; const d = new TextDecoder(); for (;;) { const { done, value } = await reader.read(); if (done) break; t += d.decode(value, { stream: true }); } return t; };
  const viaHttp = () => new Promise<string>((resolve, reject) => { const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => { let t = ''; res.setEncoding('utf8'); res.on('data', (x: string) => (t += x)); res.on('end', () => resolve(t)); }); req.on('error', reject); req.end(body); });
  for (const [name, fn] of [['fetch', viaFetch], ['http', viaHttp], ['fetch', viaFetch], ['http', viaHttp]] as const) {
    for (let i = 0; i < 500; i++) await fn();
    const c0 = process.cpuUsage(); const n = 3000;
    await Promise.all(Array.from({ length: 16 }, async () => { for (let i = 0; i < n / 16; i++) await fn(); }));
    const c = process.cpuUsage(c0);
    console.log(name, ((c.user + c.system) / n).toFixed(1), 'us cpu per call (client side)');
  }
});
