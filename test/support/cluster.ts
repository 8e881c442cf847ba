// A hub and a registrar daemon on 127.0.0.1, in this process, with millisecond timings: the stage of the
// integration tests. Callers talk to the hub over real HTTP, the daemon to real model servers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon.ts';
import { startHub, type Hub, type HubOptions } from '../../src/hub/index.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import type { InspectionEvent } from 'xstate';
import { vi } from 'vitest';

export const TOKEN = 'test-admin-token';

/** Timings for tests: everything in milliseconds, fast enough that no test waits for seconds. */
export const fastTiming = {
  heartbeatMs: 50,
  backoffBaseMs: 20,
  backoffCapMs: 200,
  wakePollMs: 20,
  resultDeadlineMs: 2_000,
  streamIdleMs: 1_000,
  drainMs: 2_000,
  reprobeMs: 200,
  requestTimeoutMs: 1_000,
};

export const fastHub: Partial<HubOptions> = { watchdogMs: 500, keepAliveMs: 100, taskTimeoutMs: 5_000 };

export interface ClusterOptions {
  providers: Record<string, unknown>[];
  agents?: Record<string, unknown>[];
  timing?: Record<string, number>;
  hub?: Partial<HubOptions>;
  logger?: Logger;
  stateDir?: string;
  /** The hub URL the daemon is given, from the hub's own (e.g. a recording proxy in front of it). Default: the hub's. */
  registrarHubUrl?: (hubUrl: string) => string | Promise<string>;
  /** Passed to the daemon: sees every inspection event of its actors. */
  inspect?: (event: InspectionEvent) => void;
  /** Passed to the daemon: told its supervisor before it starts (a status tracker follows it). */
  follow?: DaemonOptions['follow'];
}

export interface Cluster {
  hub: Hub;
  daemon: Daemon;
  stateDir: string;
  url: string;
  /** Stops the daemon dead, as SIGKILL would (no drain, no final results), keeping its state directory. */
  killDaemon(): Promise<void>;
  /** Starts a new daemon on the same config and state directory. */
  startDaemon(): Promise<void>;
  /** Stops the hub (its in-memory state is lost) and starts a new one on the same port. */
  restartHub(): Promise<void>;
  stopHub(): Promise<void>;
  startHub(): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'llmr-test-')));
  // The hub's own state dir (its session key): a restarted hub still verifies the registrar's session id.
  const hubStateDir = await mkdtemp(join(tmpdir(), 'llmr-hub-'));
  const hubOptions = (port: number): HubOptions => ({ port, tokens: { [TOKEN]: { user: 'tester', admin: true } }, stateDir: hubStateDir, ...fastHub, ...options.hub });
  let hub: Hub | undefined = await startHub(hubOptions(0));
  const port = hub.port;
  const parsed = parseConfig(
    {
      hub: { url: options.registrarHubUrl ? await options.registrarHubUrl(hub.url) : hub.url, token: TOKEN },
      providers: options.providers,
      agents: options.agents ?? [],
      timing: { ...fastTiming, ...options.timing },
    },
    {},
  );
  if (!parsed.ok) throw new Error(`test config invalid: ${parsed.problems.join('; ')}`);
  const config = parsed.config;
  const launch = () => startDaemon({ config, stateDir, logger: options.logger ?? silentLogger(), inspect: options.inspect, follow: options.follow });
  let daemon = await launch();
  const cluster: Cluster = {
    get hub() {
      return hub!;
    },
    get daemon() {
      return daemon;
    },
    stateDir,
    async killDaemon() {
      daemon.actor?.stop();
      await daemon.stopped;
    },
    async startDaemon() {
      daemon = await launch();
    },
    url: hub.url,
    async stopHub() {
      await hub?.close();
      hub = undefined;
    },
    async startHub() {
      hub = await startHub(hubOptions(port));
    },
    async restartHub() {
      await cluster.stopHub();
      await cluster.startHub();
    },
    async close() {
      if (daemon.actor) {
        daemon.drain();
        daemon.drain();
      }
      await daemon.stopped;
      await hub?.close();
      if (!options.stateDir) await rm(stateDir, { recursive: true, force: true });
      await rm(hubStateDir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** A registrar daemon alone, against any hub (the script hub, usually), publishing the demo model by default. */
export async function startDaemonAgainst(
  hubUrl: string,
  options: { token?: string; providers?: Record<string, unknown>[]; timing?: Record<string, number>; logger?: Logger } = {},
): Promise<Daemon> {
  const parsed = parseConfig(
    {
      hub: { url: hubUrl, token: options.token ?? TOKEN },
      providers: options.providers ?? [{ name: 'demo', type: 'demo', model: 'demo', tokenDelayMs: 0 }],
      timing: { ...fastTiming, ...options.timing },
    },
    {},
  );
  if (!parsed.ok) throw new Error(`test config invalid: ${parsed.problems.join('; ')}`);
  const stateDir = await mkdtemp(join(tmpdir(), 'llmr-daemon-'));
  return startDaemon({ config: parsed.config, stateDir, logger: options.logger ?? silentLogger() });
}

/** Drains at once (a second drain forces) and waits until the daemon has stopped. */
export async function stopDaemon(daemon: Daemon | undefined): Promise<void> {
  daemon?.drain();
  daemon?.drain();
  await daemon?.stopped;
}

const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

export async function chat(url: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<{ status: number; json: any }> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body), signal });
  return { status: response.status, json: await response.json() };
}

export interface StreamedCall {
  status: number;
  /** The `data:` payloads in order, `[DONE]` included. */
  events: string[];
  /** The concatenated delta contents. */
  text: string;
  /** When each content delta arrived (ms since the call began). */
  arrivals: number[];
}

/** A streaming chat call; `onEvent` sees each data payload as it arrives. */
export async function chatStream(url: string, body: Record<string, unknown>, onEvent?: (data: string) => void, signal?: AbortSignal): Promise<StreamedCall> {
  const started = Date.now();
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ ...body, stream: true }), signal });
  const call: StreamedCall = { status: response.status, events: [], text: '', arrivals: [] };
  if (!response.body) return call;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let boundary: number;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      const data = block.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n');
      if (!data) continue;
      call.events.push(data);
      onEvent?.(data);
      if (data !== '[DONE]') {
        const content = JSON.parse(data).choices?.[0]?.delta?.content;
        if (content) {
          call.text += content;
          call.arrivals.push(Date.now() - started);
        }
      }
    }
  }
  return call;
}

export async function hubGet(url: string, path: string): Promise<{ status: number; json: any }> {
  const response = await fetch(`${url}${path}`, { headers });
  return { status: response.status, json: await response.json().catch(() => undefined) };
}

/** Polls until `check` passes (or throws its last failure after `timeoutMs`): for states reached over the network. */
export function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5_000): Promise<T> {
  return vi.waitFor(check, { timeout: timeoutMs, interval: 10 });
}
