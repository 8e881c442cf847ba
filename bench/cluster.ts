// The replicated hub against the one-process hub (issue 13): the added p50 per streamed chunk when the caller is on
// replica A and the registrar's stream on replica B, and plain-call tasks/s through three replicas vs one, with
// several registrars (demo models, no tokens delay). Real redis-server and PostgreSQL, started here.
// Run: node --import tsx bench/cluster.ts
import { startHub, type Hub } from '../src/hub/index.ts';
import type { Daemon } from '../src/daemon.ts';
import { startDaemonAgainst, stopDaemon, TOKEN } from '../test/support/cluster.ts';
import { servicesMissing, startPostgres, startRedis } from '../test/support/services.ts';

const REGISTRARS = 3;
const STREAMED_CALLS = 40;
const PLAIN_CALLS = 600;
const CONCURRENCY = 24;
const tokens = { [TOKEN]: { user: 'bench', admin: true } };
const long = [{ role: 'user', content: Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ') }];

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function chunkGaps(url: string, model: string): Promise<number[]> {
  const gaps: number[] = [];
  for (let i = 0; i < STREAMED_CALLS; i++) {
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: long, stream: true }) });
    const started = performance.now();
    let chunks = 0;
    const decoder = new TextDecoder();
    for await (const piece of res.body!) chunks += (decoder.decode(piece as Uint8Array).match(/^data: /gm) ?? []).length;
    gaps.push((performance.now() - started) / Math.max(1, chunks));
  }
  return gaps;
}

async function tasksPerSecond(urls: string[], models: string[]): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < PLAIN_CALLS) {
        const i = next++;
        const res = await fetch(`${urls[i % urls.length]}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: models[i % models.length], messages: [{ role: 'user', content: `call ${i}` }] }) });
        if (res.status !== 200) throw new Error(`call ${i}: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
  return PLAIN_CALLS / ((performance.now() - started) / 1000);
}

async function waitForModels(url: string, models: string[]): Promise<void> {
  for (;;) {
    const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const ids = ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    if (models.every((m) => ids.includes(m))) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function measure(hubs: Hub[], streamOn: Hub, callOn: Hub): Promise<{ chunkMs: number; tps: number }> {
  const models = Array.from({ length: REGISTRARS }, (_, i) => `demo${i}`);
  const daemons: Daemon[] = [];
  for (const [i, model] of models.entries()) {
    const hub = i === 0 ? streamOn : hubs[i % hubs.length]!;
    daemons.push(await startDaemonAgainst(hub.url, { providers: [{ name: model, type: 'demo', model: 'demo', tokenDelayMs: 0 }] }));
  }
  await waitForModels(callOn.url, models);
  await chunkGaps(callOn.url, 'demo0');
  const chunkMs = median(await chunkGaps(callOn.url, 'demo0'));
  const tps = await tasksPerSecond(hubs.map((hub) => hub.url), models);
  for (const daemon of daemons) await stopDaemon(daemon);
  return { chunkMs, tps };
}

const missing = servicesMissing();
if (missing) throw new Error(missing);
const one = await startHub({ port: 0, tokens });
const single = await measure([one], one, one);
await one.close();

const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
const replicas = await Promise.all([0, 1, 2].map(() => startHub({ port: 0, tokens, store: postgres.url, bus: redis.url })));
const spread = await measure(replicas, replicas[1]!, replicas[0]!);
await Promise.all(replicas.map((hub) => hub.close()));
await Promise.all([redis.destroy(), postgres.destroy()]);

console.log(`per streamed chunk (p50)  one hub ${single.chunkMs.toFixed(3)} ms   replicas (caller on A, stream on B) ${spread.chunkMs.toFixed(3)} ms   added ${(spread.chunkMs - single.chunkMs).toFixed(3)} ms (target <= 0.5)`);
console.log(`plain calls, ${REGISTRARS} registrars   one hub ${single.tps.toFixed(0)}/s   three replicas ${spread.tps.toFixed(0)}/s   ratio ${(spread.tps / single.tps).toFixed(2)} (target >= 2, on a machine with cores to spare)`);
process.exit(0);
