// Real Redis and PostgreSQL servers for the replicated hub's tests, started by the tests themselves on free
// loopback ports in temp dirs, so a test can kill and restart them. PostgreSQL refuses to run as root: as root it
// runs as the `postgres` user. Without the servers installed, `servicesMissing` says what to install;
// with LLM_REGISTRAR_REQUIRE_SERVICES=1 (CI) a missing server fails instead of skipping.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PG_BIN_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function pgBin(tool: string): string | undefined {
  for (const dir of PG_BIN_DIRS) if (existsSync(join(dir, tool))) return join(dir, tool);
  return which(tool);
}

/** One line saying what to install, or undefined when Redis and PostgreSQL are both here. */
export function servicesMissing(): string | undefined {
  const missing = [
    which('redis-server') ? undefined : 'redis-server',
    pgBin('postgres') && pgBin('initdb') ? undefined : 'postgresql',
  ].filter((name) => name !== undefined);
  if (missing.length === 0) return undefined;
  const line = `the replicated hub's tests need ${missing.join(' and ')}: apt-get install ${missing.join(' ')}`;
  if (process.env.LLM_REGISTRAR_REQUIRE_SERVICES === '1') throw new Error(line);
  return line;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const asRoot = process.getuid?.() === 0;

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

function spawnServer(command: string, args: string[]): ChildProcess {
  // As the postgres user directly (not through runuser), so a SIGKILL reaches the postmaster itself.
  const child = asRoot && command.includes('postgres') ? spawn(command, args, { stdio: 'pipe', ...postgresUser() }) : spawn(command, args, { stdio: 'pipe' });
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${what} did not start within ${timeoutMs} ms`);
}

function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** A server the test can stop, kill and start again on the same port with the same data. */
export interface Service {
  readonly url: string;
  readonly port: number;
  start(): Promise<void>;
  /** SIGKILL: the server dies as on a crash. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

/** The one lifecycle of both servers: spawned, waited for until it answers, killed, started again, removed with its dir. */
async function runService(options: { url: string; port: number; dir: string; what: string; spawn: () => ChildProcess; ready: () => Promise<boolean> }): Promise<Service> {
  let child: ChildProcess | undefined;
  const service: Service = {
    url: options.url,
    port: options.port,
    async start() {
      child = options.spawn();
      await waitFor(options.ready, options.what);
    },
    kill: () => stopChild(child, 'SIGKILL'),
    async restart() {
      await stopChild(child, 'SIGKILL');
      // A killed postmaster leaves its children for a moment; the new one waits for the old shared memory to go.
      await service.start();
    },
    async destroy() {
      await stopChild(child, 'SIGKILL');
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}

export async function startRedis(): Promise<Service> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'llmr-redis-'));
  return runService({
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    what: 'redis-server',
    spawn: () => spawnServer('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no']),
    ready: async () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG',
  });
}

export async function startPostgres(): Promise<Service> {
  const postgres = pgBin('postgres');
  const initdb = pgBin('initdb');
  const isReady = pgBin('pg_isready');
  if (!postgres || !initdb || !isReady) throw new Error('postgresql is not installed');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'llmr-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
  }
  const initArgs = ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'];
  const init = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', initdb, ...initArgs], { encoding: 'utf8' }) : spawnSync(initdb, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  return runService({
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    what: 'postgres',
    spawn: () =>
      spawnServer(postgres, ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    ready: async () => spawnSync(isReady, ['-h', '127.0.0.1', '-p', String(port), '-q']).status === 0,
  });
}
