// Heartbeats across replicas (issue 13): 10,000 registrars' sessions, each with its task stream held open and a
// heartbeat every 30 s (SPEC.md), on three `llm-registrar hub` replicas sharing a real Redis and PostgreSQL. The
// registrars are raw HTTP clients in a few processes (bench/heartbeats-clients.ts), not daemons. Over one heartbeat
// interval: the replicas' and Redis's CPU as a share of one core (from /proc/<pid>/stat; target Redis ≤ 5 %), Redis
// commands per heartbeat, and whether PostgreSQL was written at all (WAL bytes and rows changed: it must not be).
// Run: npm run build && node --import tsx bench/heartbeats.ts [--registrars N] [--window-ms MS]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { servicesMissing, startPostgres, startRedis } from '../test/support/services.ts';
import { redisInfo } from './redis-info.ts';
import { authHeaders, cpuSeconds, isMain, printTable, request, round, sleep, spawnNode, startHubProcess, TOKEN, withProcesses, writeResult, askingChild } from './support.ts';

const SPEC_HEARTBEAT_MS = 30_000;

export interface HeartbeatsResult {
  registrars: number;
  replicas: number;
  clientProcesses: number;
  intervalMs: number;
  windowSeconds: number;
  registerSeconds: number;
  streamsOpen: number;
  heartbeatsPerSecond: number;
  beats: { sent: number; ok: number; lost: number; errors: number };
  cpuPercentOfCore: { redis: number; replicas: number[]; postgres: number };
  redisCommandsPerHeartbeat: number;
  postgres: { walBytes: number; rowsWritten: number; commits: number; autovacuumRuns: number };
  rowsActiveOnEveryReplica: boolean;
}


/** What PostgreSQL has written so far (WAL position, rows inserted/updated/deleted, commits) and its processes. */
async function postgresMarks(url: string): Promise<{ lsn: string; rows: number; commits: number; vacuums: number; pids: number[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
    const { rows: [wal] } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const { rows: [tuples] } = await client.query<{ rows: string | null }>('SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) AS rows FROM pg_stat_user_tables');
    const { rows: [db] } = await client.query<{ commits: string }>('SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()');
    const { rows: [vacuums] } = await client.query<{ runs: string | null }>('SELECT sum(autovacuum_count + autoanalyze_count) AS runs FROM pg_stat_all_tables');
    const { rows: pids } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');
    return { lsn: wal!.lsn, rows: Number(tuples?.rows ?? 0), commits: Number(db?.commits ?? 0), vacuums: Number(vacuums?.runs ?? 0), pids: pids.map((row) => row.pid) };
  } finally {
    await client.end();
  }
}

async function walBytesBetween(url: string, from: string, to: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS bytes', [to, from]);
    return Number(rows[0]?.bytes ?? 0);
  } finally {
    await client.end();
  }
}

const cpuOrZero = (pid: number): number => {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0;
  }
};

async function activeRows(url: string): Promise<number> {
  const reply = await request(`${url}/api/v1/llms`, { headers: authHeaders });
  if (reply.status !== 200) return 0;
  const rows = JSON.parse(reply.body) as { name: string; status: string }[] | { data: { name: string; status: string }[] };
  return (Array.isArray(rows) ? rows : rows.data).filter((row) => row.name.startsWith('hb-') && row.status === 'active').length;
}

export async function runHeartbeats(options: { registrars?: number; clientProcesses?: number; intervalMs?: number; windowMs?: number } = {}): Promise<HeartbeatsResult> {
  const registrars = options.registrars ?? 10_000;
  const clientProcesses = options.clientProcesses ?? 4;
  const intervalMs = options.intervalMs ?? SPEC_HEARTBEAT_MS;
  const windowMs = options.windowMs ?? intervalMs;
  const missing = servicesMissing();
  if (missing) throw new Error(missing);
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  const redisPid = Number(redisInfo(redis.port, 'server').get('process_id'));
  try {
    return await withProcesses(async (track) => {
      const flags = ['--store', postgres.url, '--bus', redis.url, '--max-sessions-per-user', String(registrars * 2), '--max-connections', String(registrars + 1_000), '--log-level', 'warn'];
      const replicas = await Promise.all([0, 1, 2].map((i) => startHubProcess(`heartbeats-replica-${i}`, 0, flags).then(track)));
      const urls = replicas.map((replica) => replica.url);
      const clients = await Promise.all(
        Array.from({ length: clientProcesses }, async (_, i) => {
          const client = askingChild(track(spawnNode(`heartbeats-clients-${i}`, ['--import', 'tsx', 'bench/heartbeats-clients.ts'], { ipc: true })));
          await client.ask(undefined, 'ready');
          return client;
        }),
      );
      const per = Math.ceil(registrars / clientProcesses);
      const r0 = performance.now();
      const registered = await Promise.all(
        clients.map((client, i) => client.ask<{ registered: number; failed: number }>({ cmd: 'register', urls, token: TOKEN, from: i * per, count: Math.min(per, registrars - i * per), concurrency: 8 }, 'registered')),
      );
      const registerSeconds = (performance.now() - r0) / 1000;
      const failed = registered.reduce((sum, r) => sum + r.failed, 0);
      if (failed > 0) throw new Error(`${failed} registers failed; see bench/results/logs/heartbeats-clients-*.log`);
      const opened = await Promise.all(clients.map((client) => client.ask<{ open: number; failed: number }>({ cmd: 'stream' }, 'open')));
      const streamsOpen = opened.reduce((sum, o) => sum + o.open, 0);
      await Promise.all(clients.map((client) => client.ask({ cmd: 'beat', intervalMs }, 'beating')));
      // The streams' holders settle and the first round of heartbeats is under way before the window opens.
      await sleep(Math.min(5_000, intervalMs / 4));

      const cpu = (): { redis: number; replicas: number[] } => ({ redis: cpuOrZero(redisPid), replicas: replicas.map((replica) => cpuOrZero(replica.pid)) });
      const statsOf = async () => {
        const all = await Promise.all(clients.map((client) => client.ask<{ stats: Record<string, number> }>({ cmd: 'stats' }, 'stats')));
        const sum = (field: string) => all.reduce((total, s) => total + (s.stats[field] ?? 0), 0);
        return { sent: sum('beats'), ok: sum('beatsOk'), lost: sum('beatsLost'), errors: sum('beatErrors') };
      };
      const pg0 = await postgresMarks(postgres.url);
      const pgCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuOrZero(pid), 0);
      const pgCpu0 = pgCpu(pg0.pids);
      const commands0 = Number(redisInfo(redis.port, 'stats').get('total_commands_processed'));
      const cpu0 = cpu();
      const beats0 = await statsOf();
      const w0 = performance.now();
      await sleep(windowMs);
      const seconds = (performance.now() - w0) / 1000;
      const cpu1 = cpu();
      const beats1 = await statsOf();
      const commands1 = Number(redisInfo(redis.port, 'stats').get('total_commands_processed'));
      const pgCpu1 = pgCpu(pg0.pids);
      const pg1 = await postgresMarks(postgres.url);
      const walBytes = await walBytesBetween(postgres.url, pg0.lsn, pg1.lsn);
      const beats = { sent: beats1.sent - beats0.sent, ok: beats1.ok - beats0.ok, lost: beats1.lost - beats0.lost, errors: beats1.errors - beats0.errors };
      const active = await Promise.all(urls.map(activeRows));

      const percent = (used: number) => round((used / seconds) * 100, 2);
      const result: HeartbeatsResult = {
        registrars,
        replicas: replicas.length,
        clientProcesses,
        intervalMs,
        windowSeconds: round(seconds, 1),
        registerSeconds: round(registerSeconds, 1),
        streamsOpen,
        heartbeatsPerSecond: round(beats.sent / seconds, 1),
        beats,
        cpuPercentOfCore: { redis: percent(cpu1.redis - cpu0.redis), replicas: cpu1.replicas.map((used, i) => percent(used - cpu0.replicas[i]!)), postgres: percent(pgCpu1 - pgCpu0) },
        redisCommandsPerHeartbeat: round((commands1 - commands0) / Math.max(1, beats.sent), 3),
        // The replicas' change-log reads and these stats reads commit (read-only); rows changed and WAL are what a write
        // per heartbeat would show, and autovacuum (after the 10,000 registers) writes WAL of its own.
        postgres: { walBytes, rowsWritten: pg1.rows - pg0.rows, commits: pg1.commits - pg0.commits, autovacuumRuns: pg1.vacuums - pg0.vacuums },
        rowsActiveOnEveryReplica: active.every((count) => count === registrars),
      };
      printTable(`heartbeats: ${registrars} registrars (${clientProcesses} client processes), three replicas, Redis + PostgreSQL, every ${intervalMs} ms`, [
        { figure: `registered (s), task streams open`, value: `${result.registerSeconds} s, ${streamsOpen}` },
        { figure: `heartbeats in the window (${result.windowSeconds} s): sent / 200 / 404 / failed`, value: `${beats.sent} / ${beats.ok} / ${beats.lost} / ${beats.errors} (${result.heartbeatsPerSecond}/s)` },
        { figure: 'Redis CPU, % of one core (target ≤ 5 %)', value: `${result.cpuPercentOfCore.redis} %` },
        { figure: 'replicas CPU, % of one core each', value: result.cpuPercentOfCore.replicas.map((p) => `${p} %`).join(' / ') },
        { figure: 'PostgreSQL CPU (its backends), % of one core', value: `${result.cpuPercentOfCore.postgres} %` },
        { figure: 'Redis commands per heartbeat', value: result.redisCommandsPerHeartbeat },
        { figure: 'PostgreSQL in the window: rows written / WAL bytes / autovacuum runs / commits', value: `${result.postgres.rowsWritten} / ${walBytes} / ${result.postgres.autovacuumRuns} / ${result.postgres.commits}` },
        { figure: 'every row active on every replica at the end', value: String(result.rowsActiveOnEveryReplica) },
      ]);
      await Promise.all(clients.map((client) => new Promise<void>((resolve) => {
        client.proc.child.once('exit', () => resolve());
        client.proc.child.send({ cmd: 'stop' });
      })));
      writeResult('heartbeats', result);
      return result;
    });
  } finally {
    await Promise.all([redis.destroy(), postgres.destroy()]);
  }
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { registrars: { type: 'string' }, 'window-ms': { type: 'string' }, 'interval-ms': { type: 'string' }, processes: { type: 'string' } } });
  const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  await runHeartbeats({ registrars: number(values.registrars), windowMs: number(values['window-ms']), intervalMs: number(values['interval-ms']), clientProcesses: number(values.processes) });
  process.exit(0);
}
