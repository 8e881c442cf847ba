// `npm run cluster`: the replicated hub on this machine, for trying it by hand, no docker: a Redis and a PostgreSQL
// in temp dirs, three `llm-registrar hub` replicas on them, and a round-robin proxy in front. Ctrl-C stops it all.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRoundRobinProxy } from '../test/support/round-robin-proxy.ts';
import { freePort, servicesMissing, startPostgres, startRedis } from '../test/support/services.ts';

const TOKEN = process.env.LLM_REGISTRAR_HUB_ADMIN_TOKEN ?? 'cluster-admin-token';
const BIN = join(import.meta.dirname, '../bin/llm-registrar');

const missing = servicesMissing();
if (missing) {
  console.error(missing);
  process.exit(1);
}
const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
const stateDir = await mkdtemp(join(tmpdir(), 'llmr-cluster-'));
const replicas: { url: string; child: ChildProcess }[] = [];
for (let i = 0; i < 3; i++) {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'hub', '--port', String(port), '--store', postgres.url, '--bus', redis.url, '--state-dir', stateDir], {
    env: { ...process.env, LLM_REGISTRAR_HUB_ADMIN_TOKEN: TOKEN },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  replicas.push({ url: `http://127.0.0.1:${port}`, child });
}
for (const { url } of replicas) {
  for (let tries = 0; ; tries++) {
    if (await fetch(`${url}/healthz`).then((res) => res.ok, () => false)) break;
    if (tries > 300) throw new Error(`replica ${url} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const proxy = await startRoundRobinProxy(replicas.map((replica) => replica.url));
const config = join(stateDir, 'registrar.json');
await writeFile(config, JSON.stringify({ hub: { url: proxy.url, token: TOKEN }, providers: [{ name: 'demo', type: 'demo', model: 'demo' }] }, null, 2), { mode: 0o600 });

console.log(`
redis       ${redis.url}
postgres    ${postgres.url}
replicas    ${replicas.map(({ url, child }) => `${url} (pid ${child.pid})`).join('\n            ')}
balancer    ${proxy.url}

Publish the demo model through the balancer, call it through any replica, kill a replica and call again:
  bin/llm-registrar start --config ${config}
  curl -s ${replicas[0]!.url}/v1/chat/completions -H 'authorization: Bearer ${TOKEN}' \\
    -H 'content-type: application/json' -d '{"model":"demo","messages":[{"role":"user","content":"hi"}]}'
  kill -9 ${replicas[1]!.child.pid}
Ctrl-C stops everything and removes the data.
`);

const stop = async (): Promise<void> => {
  for (const { child } of replicas) child.kill('SIGTERM');
  await proxy.close();
  await Promise.all([redis.destroy(), postgres.destroy()]);
  await rm(stateDir, { recursive: true, force: true });
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
