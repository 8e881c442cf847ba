// The stage a model path is replayed on: the real daemon (real actors, real HTTP on 127.0.0.1) against the script hub,
// a scriptable model server and a wake endpoint, each of which holds the requests the test wants to answer itself,
// and a SimulatedClock behind the machines' delays so that a timer fires when the path says so, never on its own.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock, type AnyActorRef, type InspectionEvent } from 'xstate';
import { parseConfig } from '../../src/config/load.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { silentLogger } from '../../src/log.ts';
import type { TaskResult } from '../../src/protocol/index.ts';
import { startOpenAiServer, type ModelScript, type ModelServer, type ReceivedRequest } from '../support/model-server.ts';
import { startScriptHub, type Answer, type ScriptHub } from '../support/script-hub.ts';
import { transitionKey, type CoverageRecorder } from './coverage.ts';

/** Answers for requests the test holds: each `answer` goes to the oldest held request, or to the next to arrive. */
export class Gate<T> {
  private waiting: { resolve: (answer: T) => void; gone: () => boolean }[] = [];
  private ready: T[] = [];

  /** For the server: the answer to one request, when the test gives it; `gone` says its client left meanwhile. */
  next(gone: () => boolean = () => false): Promise<T> {
    const answer = this.ready.shift();
    if (answer !== undefined) return Promise.resolve(answer);
    return new Promise((resolve) => this.waiting.push({ resolve, gone }));
  }

  /** Answers the oldest held request whose client still waits (those that left are let go with the same answer). */
  answer(answer: T): void {
    let waiter = this.waiting.shift();
    while (waiter?.gone()) {
      waiter.resolve(answer);
      waiter = this.waiting.shift();
    }
    if (waiter) waiter.resolve(answer);
    else this.ready.push(answer);
  }

  /** Ends every held request with `answer` and forgets answers given ahead: the requests they were for are gone. */
  discard(answer: T): void {
    for (const waiter of this.waiting) waiter.resolve(answer);
    this.waiting = [];
    this.ready = [];
  }

  get held(): number {
    return this.waiting.length;
  }
}

interface Taken {
  actor: string;
  key: string;
}

/** An actor as the trace names it: its id, or a task's id for a task (its actor id is a reused slot name). */
function actorName(event: InspectionEvent): string {
  const ref = event.actorRef as AnyActorRef;
  if (ref.src !== 'task') return ref.id;
  const snapshot = ('snapshot' in event ? event.snapshot : ref.getSnapshot()) as { context?: { taskId?: unknown } };
  return typeof snapshot.context?.taskId === 'string' ? snapshot.context.taskId : ref.id;
}

/** What the daemon's actors did, from its inspection events: each actor's latest state value, and every transition. */
export class Trace {
  readonly values = new Map<string, unknown>();
  readonly contexts = new Map<string, Record<string, unknown>>();
  readonly taken: Taken[] = [];
  private readonly listeners = new Set<() => void>();

  readonly observe = (event: InspectionEvent): void => {
    if (event.type === '@xstate.snapshot') {
      const snapshot = event.snapshot as { value?: unknown; context?: Record<string, unknown>; machine?: unknown };
      if (snapshot.machine === undefined) return;
      const actor = actorName(event);
      this.values.set(actor, snapshot.value);
      this.contexts.set(actor, snapshot.context ?? {});
      this.notify();
    } else if (event.type === '@xstate.microstep') {
      for (const transition of event._transitions) {
        const key = transitionKey(transition as never);
        if (key) this.taken.push({ actor: actorName(event), key });
      }
      this.notify();
    }
  };

  /** A mark to ask later which transitions were taken after it. */
  mark(): number {
    return this.taken.length;
  }

  /** The transitions taken after `mark` by `actor`, or by every actor. */
  takenSince(mark: number, actor?: string): string[] {
    return this.taken.slice(mark).filter((t) => actor === undefined || t.actor === actor).map((t) => t.key);
  }

  /** Resolves true as soon as `check` holds (it is tried on every inspection event), false after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = () => {
        if (!check()) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(check()), timeoutMs);
      // What happens outside the actors (a result reaching the hub) shows in no inspection event: look now and then.
      const poll = setInterval(listener, 10);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.listeners.delete(listener);
        resolve(ok);
      };
      this.listeners.add(listener);
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** A wake recipe's HTTP endpoint whose answers the test gives. */
interface WakeEndpoint {
  url: string;
  /**
   * Answers the wake under way: every request open now or arriving until `discard`. A request of a wake the provider
   * gave up on (its max wait passed) may still reach the server after the provider aborted it, so which request is
   * the current one cannot be told; answering a request whose client left does no harm.
   */
  answer(status: number): void;
  /** The wake is over: ends every open request, and answers no more. */
  discard(): void;
  close(): Promise<void>;
}

async function startWakeEndpoint(): Promise<WakeEndpoint> {
  const open = new Set<http.ServerResponse>();
  let standing: number | undefined;
  const reply = (res: http.ServerResponse, status: number) => {
    open.delete(res);
    res.writeHead(status).end();
  };
  const server = http.createServer((req, res) => {
    req.resume();
    open.add(res);
    res.on('close', () => open.delete(res));
    if (standing !== undefined) reply(res, standing);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const discard = () => {
    standing = undefined;
    for (const res of open) res.destroy();
    open.clear();
  };
  return {
    url: `http://127.0.0.1:${port}/wake`,
    answer: (status) => {
      standing = status;
      for (const res of open) reply(res, status);
    },
    discard,
    close: async () => {
      discard();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export interface StageOptions {
  /** The providers of the daemon's config, given where the model server and the wake endpoint listen. */
  providers: (where: { modelBaseUrl: string; wakeUrl: string }) => Record<string, unknown>[];
  timing: Record<string, number>;
  /** Hub calls the test answers itself; all others are answered at once as a healthy hub would. */
  gated: { register?: boolean; stream?: boolean; result?: (taskId: string) => boolean };
  /** The models the model server lists (default: the double's one). */
  models?: string[];
  /** Whether the model server listens when the daemon starts (default true). */
  modelUp?: boolean;
  recorder: CoverageRecorder;
}

/** The user message of a chat call: the tests put the task id there, so a held call is known by its task. */
function taskOf(request: ReceivedRequest): string {
  const messages = (request.body as { messages?: { role: string; content: string }[] } | undefined)?.messages ?? [];
  return messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
}

function isFinal(result: TaskResult): boolean {
  return !('chunk' in result) || result.chunk.done === true;
}

export class Stage {
  readonly clock = new SimulatedClock();
  readonly trace = new Trace();
  readonly register = new Gate<Answer>();
  readonly stream = new Gate<Answer>();
  /** Final results (a 200 body, an error, the `[DONE]` chunk) of the tasks whose results are gated. */
  readonly results = new Gate<Answer>();
  /** How the hub answers the streamed chunks of gated tasks. */
  chunkAnswer: Answer = 200;
  /** The last final result the hub received for each gated task, whatever it answered. */
  readonly finalResults = new Map<string, TaskResult>();
  /** Answers of the next heartbeats, in order; then 200. */
  readonly heartbeats: Answer[] = [];
  private readonly held = new Map<string, Gate<ModelScript>>();
  /** Whatever a scenario needs to remember between the steps of one path. */
  readonly notes = new Map<string, number>();

  private constructor(
    readonly hub: ScriptHub,
    readonly model: ModelServer,
    readonly wake: WakeEndpoint,
    readonly stateDir: string,
    private daemonRef?: Daemon,
  ) {}

  static async start(options: StageOptions): Promise<Stage> {
    let stage!: Stage;
    const hub = await startScriptHub({
      register: (_body, gone) => (options.gated.register ? stage.register.next(gone) : 201),
      stream: () => (options.gated.stream ? stage.stream.next() : 200),
      heartbeat: () => stage.heartbeats.shift() ?? 200,
      result: (taskId, body) => {
        if (!options.gated.result?.(taskId)) return 200;
        if (!isFinal(body)) return stage.chunkAnswer;
        stage.finalResults.set(taskId, body);
        return stage.results.next();
      },
    });
    const model = await startOpenAiServer({ hold: (request) => stage.heldCall(taskOf(request)).next(), models: options.models });
    if (options.modelUp === false) await model.stop();
    const wake = await startWakeEndpoint();
    const stateDir = await mkdtemp(join(tmpdir(), 'llmr-model-'));
    stage = new Stage(hub, model, wake, stateDir);
    const parsed = parseConfig(
      {
        hub: { url: hub.url, token: 'model-test-token' },
        providers: options.providers({ modelBaseUrl: model.baseUrl, wakeUrl: wake.url }),
        timing: options.timing,
      },
      {},
    );
    if (!parsed.ok) throw new Error(`model test config invalid: ${parsed.problems.join('; ')}`);
    stage.daemonRef = await startDaemon({
      config: parsed.config,
      stateDir,
      logger: silentLogger(),
      clock: stage.clock,
      random: () => 0.5,
      inspect: (event) => {
        options.recorder.observe(event);
        stage.trace.observe(event);
      },
    });
    return stage;
  }

  get daemon(): Daemon {
    return this.daemonRef!;
  }

  private heldCall(taskId: string): Gate<ModelScript> {
    let gate = this.held.get(taskId);
    if (!gate) this.held.set(taskId, (gate = new Gate()));
    return gate;
  }

  /** Lets the model answer the chat call of `taskId` (now, or when it arrives), as scripted or as `script` says. */
  answerCall(taskId: string, script?: ModelScript): void {
    this.heldCall(taskId).answer(script ?? {});
  }

  /** Stops the model server; the calls it held die with their connections. */
  async modelDown(): Promise<void> {
    this.held.clear();
    await this.model.stop();
  }

  async modelUp(): Promise<void> {
    await this.model.restart();
  }

  /** Sends a frame down the open task stream; fails the step when no stream is open. */
  send(frame: unknown): void {
    if (!this.hub.send(frame)) throw new Error('no task stream is open to send a frame on');
  }

  async close(): Promise<void> {
    const actor = this.daemon?.actor;
    if (actor && actor.getSnapshot().status === 'active') actor.stop();
    await this.daemon?.stopped;
    for (const gate of [this.register, this.stream, this.results]) gate.discard('reset');
    for (const gate of this.held.values()) gate.discard({ hang: true });
    await Promise.all([this.hub.close(), this.model.close(), this.wake.close()]);
    await rm(this.stateDir, { recursive: true, force: true });
  }
}
