// A registrar daemon in this process for fault and hostile-input tests: started against any hub (usually the script
// hub), with its logs captured and the frames it received recorded from its own actors, so a test can check the
// invariant (test/support/invariant.ts) and that it never stopped on its own or logged a crash.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { InspectionEvent } from 'xstate';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon.ts';
import type { Logger } from '../../src/log.ts';
import { fastTiming } from './cluster.ts';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A debug-level logger that keeps every line in memory. */
export function captureLogs(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (text: string) => void lines.push(JSON.parse(text) as LogLine) });
  return { logger, lines };
}

export const FATAL = 60;
export const ERROR = 50;
export const WARN = 40;

export interface RegistrarOptions {
  hubUrl: string;
  providers: Record<string, unknown>[];
  agents?: Record<string, unknown>[];
  timing?: Record<string, number>;
  /** Kept (not removed on stop) when given. */
  stateDir?: string;
  /** Sees every inspection event too. */
  inspect?: (event: InspectionEvent) => void;
  /** Told the daemon's supervisor before it starts (a status tracker follows it). */
  follow?: DaemonOptions['follow'];
}

export interface Registrar {
  daemon: Daemon;
  stateDir: string;
  /** Ids of the task frames (infer, wake, and malformed ones naming a task) that reached the supervisor. */
  received: Set<string>;
  /** Ids named by the cancel frames that reached the supervisor. */
  cancelled: Set<string>;
  /** The session's retries (register or stream), in order. */
  retries: { attempt: number; delayMs: number; error: string }[];
  logs: LogLine[];
  /** True when the daemon stopped without a drain asked of it (the daemon must never exit on its own). */
  readonly stoppedUnasked: boolean;
  /** What a healthy daemon never shows: fatal log lines, a stop nobody asked for. */
  troubles(): string[];
  /** Drains, then forces, and waits until it has stopped. */
  stop(): Promise<void>;
}

/** Records what reached the supervisor, the root of the daemon's actor system. */
export function frameRecorder() {
  const received = new Set<string>();
  const cancelled = new Set<string>();
  /** The session's `session.retrying` notices: which attempt failed, the delay chosen, why. */
  const retries: { attempt: number; delayMs: number; error: string }[] = [];
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.event' || event.actorRef.sessionId !== event.rootId) return;
    const inner = event.event as { type: string; frame?: { kind: string; taskId: string }; taskId?: string; attempt?: number; delayMs?: number; error?: string };
    if (inner.type === 'session.retrying') {
      retries.push({ attempt: inner.attempt!, delayMs: inner.delayMs!, error: inner.error! });
    } else if (inner.type === 'stream.task' && inner.frame) {
      (inner.frame.kind === 'cancel' ? cancelled : received).add(inner.frame.taskId);
    } else if (inner.type === 'stream.badFrame' && inner.taskId !== undefined) {
      received.add(inner.taskId);
    }
  };
  return { received, cancelled, retries, inspect };
}

export async function startRegistrar(options: RegistrarOptions): Promise<Registrar> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'llmr-fault-')));
  const parsed = parseConfig(
    { hub: { url: options.hubUrl, token: 'fault-token' }, providers: options.providers, agents: options.agents ?? [], timing: { ...fastTiming, ...options.timing } },
    {},
  );
  if (!parsed.ok) throw new Error(`test config invalid: ${parsed.problems.join('; ')}`);
  const { logger, lines } = captureLogs();
  const recorder = frameRecorder();
  const inspect = options.inspect;
  const daemon = await startDaemon({ config: parsed.config, stateDir, logger, inspect: inspect ? (event) => (recorder.inspect(event), inspect(event)) : recorder.inspect, follow: options.follow });
  let asked = false;
  let stoppedUnasked = false;
  void daemon.stopped.then(() => {
    if (!asked) stoppedUnasked = true;
  });
  return {
    daemon,
    stateDir,
    received: recorder.received,
    cancelled: recorder.cancelled,
    retries: recorder.retries,
    logs: lines,
    get stoppedUnasked() {
      return stoppedUnasked;
    },
    troubles() {
      const troubles = lines.filter((line) => line.level >= FATAL).map((line) => `fatal log: ${line.msg} ${JSON.stringify(line.err ?? '')}`);
      if (stoppedUnasked) troubles.push('the daemon stopped on its own');
      return troubles;
    },
    async stop() {
      asked = true;
      daemon.drain();
      daemon.drain();
      await daemon.stopped;
      if (!options.stateDir) await rm(stateDir, { recursive: true, force: true });
    },
  };
}
