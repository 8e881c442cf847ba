// What the machines alone cost per plain task: the real supervisor, provider and task machines with instant fake
// actors (no network, no logging), N tasks kept 32 at a time, as the status tracker and the state file follow them
// in the daemon. Prints CPU µs per task and, with `--count`, what XState did per task (inspection events by type:
// events delivered, snapshots, actors created, microsteps).
// `node --import tsx bench/machine-cost.ts [TASKS] [--count]`; single runs move by ±15 % on this VM: compare builds in
// alternating runs.
import { createActor, fromPromise, type AnyEventObject, type InspectionEvent } from 'xstate';
import type { AnswerRestartedInput } from '../machines/supervisor.ts';
import type { PostResultInput, RunTaskInput, RunTaskOutput } from '../machines/task.ts';
import { provideSupervisor } from '../machines/wiring.ts';
import { StatusTracker } from '../inspect/tracker.ts';
import { emptyCatalog, streamingSession, upProvider } from '../test/machines/instant-actors.ts';
import { infer } from '../test/machines/task-doubles.ts';
import { isMain } from './support.ts';

export interface MachineCost {
  tasks: number;
  cpuUsPerTask: number;
  /** Inspection events per task, by type (with --count). */
  perTask?: Record<string, number>;
}

export async function runMachineCost(tasks = 20_000, count = false): Promise<MachineCost> {
  let stream: ((event: AnyEventObject) => void) | undefined;
  const machine = provideSupervisor({
    task: {
      runTask: fromPromise<RunTaskOutput, RunTaskInput>(async ({ input }) => {
        return { result: { status: 200, body: { id: input.frame.taskId } } };
      }),
      postResult: fromPromise<void, PostResultInput>(async () => undefined),
    },
    supervisor: { answerRestarted: fromPromise<void, AnswerRestartedInput>(async () => undefined) },
    provider: upProvider,
    session: streamingSession((send) => (stream = send)),
    catalog: emptyCatalog,
  });
  const counts: Record<string, number> = {};
  let counting = false;
  const inspect = count
    ? (event: InspectionEvent) => {
        if (!counting) return;
        const key = event.type === '@xstate.event' ? `event ${(event as { event: AnyEventObject }).event.type.replace(/^xstate\.(done|error)\.actor\..*/, 'xstate.$1.actor.<id>')}` : event.type;
        counts[key] = (counts[key] ?? 0) + 1;
      }
    : undefined;
  const actor = createActor(machine, {
    input: {
      session: { timing: { heartbeatMs: 60_000, backoffBaseMs: 100, backoffCapMs: 1_000, streamIdleMs: 60_000 } },
      providers: [{ name: 'local', upstream: 'fake', hasWake: false, maxConcurrency: 32, wakePollStartMs: 10, wakePollMs: 10, wakeMaxWaitMs: 100, reprobeMs: 1_000, reprobeCapMs: 1_000, maxQueue: 1_000 }],
      drainMs: 1_000,
      forceGraceMs: 200,
      restartedTasks: [],
    },
    inspect,
  });
  // NO_TRACKER=1: the machines alone, without the status tracker that `start` always runs beside them.
  if (!process.env.NO_TRACKER) new StatusTracker().follow(actor);
  // What the daemon's persistFacts does per snapshot.
  actor.subscribe(({ context }) => void context.inFlight.version);
  actor.start();
  while (!stream) await new Promise((resolve) => setTimeout(resolve, 1));
  let sent = 0;
  const drive = async (n: number) => {
    const target = sent + n;
    const inFlight = () => actor.getSnapshot().context.inFlight.size;
    while (sent < target || inFlight() > 0) {
      while (sent < target && inFlight() < 32) stream!({ type: 'stream.task', frame: infer(`task-${sent++}`), receivedAt: Date.now(), sessionId: 's1' });
      // Let the runs end and their ends reach the machines.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await drive(2_000);
  counting = true;
  const before = process.cpuUsage();
  await drive(tasks);
  const used = process.cpuUsage(before);
  counting = false;
  actor.stop();
  const result: MachineCost = { tasks, cpuUsPerTask: Math.round(((used.user + used.system) / tasks) * 10) / 10 };
  if (count) result.perTask = Object.fromEntries(Object.entries(counts).sort().map(([key, n]) => [key, Math.round((n / tasks) * 100) / 100]));
  return result;
}

if (isMain(import.meta.url)) {
  const tasks = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 20_000);
  process.stdout.write(`${JSON.stringify(await runMachineCost(tasks, process.argv.includes('--count')), null, 1)}\n`);
}
