// Machine-only cost per task: the supervisor → provider → task path with actors that do no I/O.
import { createActor, fromCallback, fromPromise, type AnyEventObject } from 'xstate';
import { performance } from 'node:perf_hooks';
import { providerMachine } from '../machines/provider.ts';
import { sessionMachine } from '../machines/session.ts';
import { supervisorMachine } from '../machines/supervisor.ts';
import { taskMachine, type PostResultInput, type RunTaskInput, type RunTaskOutput } from '../machines/task.ts';
const concurrency = Number(process.argv[2] ?? 64);
const total = Number(process.argv[3] ?? 50_000);
let stream: ((event: AnyEventObject) => void) | undefined;
let done = 0;
let next = 0;
let finish!: () => void;
const all = new Promise<void>((r) => (finish = r));
const send = () => { const id = `t-${next++}`; stream!({ type: 'stream.task', frame: { kind: 'infer', taskId: id, llmName: 'local', streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] } } }); };
const task = taskMachine.provide({
  actors: {
    runTask: fromPromise<RunTaskOutput, RunTaskInput>(async ({ input }) => ({ result: { status: 200, body: { id: input.frame.taskId } } })),
    postResult: fromPromise<void, PostResultInput>(async () => { done++; if (done === total) finish(); else if (next < total) setImmediate(send); }),
  },
});
const machine = supervisorMachine.provide({ actors: { task,
  provider: providerMachine.provide({ actors: { task, probe: fromPromise(async () => true), wakeRecipe: fromPromise<void, { name: string }>(async () => undefined) } }),
  session: sessionMachine.provide({ actors: { register: fromPromise(async () => ({ sessionId: 's1' })), heartbeat: fromCallback(() => undefined), taskStream: fromCallback(({ sendBack }) => void (stream = sendBack)) } }) } });
const actor = createActor(machine, { input: { session: { timing: { heartbeatMs: 1e6, backoffBaseMs: 100, backoffCapMs: 1_000, streamIdleMs: 1e6 } },
  providers: [{ name: 'local', upstream: 'x', hasWake: false, maxConcurrency: 1024, wakePollMs: 10, wakeMaxWaitMs: 100, reprobeMs: 1_000 }], maxQueue: 1000, drainMs: 1_000, forceGraceMs: 200, restartedTasks: [] } });
if (process.argv[4] === 'subs') { const { } = await import('../src/daemon.ts'); }
actor.start();
await new Promise((r) => setTimeout(r, 20));
const t0 = performance.now(); const c0 = process.cpuUsage();
for (let i = 0; i < concurrency; i++) send();
await all;
const cpu = process.cpuUsage(c0);
console.log(`c=${concurrency} ${total} tasks: ${((performance.now() - t0) * 1000 / total).toFixed(1)} us/task wall, ${((cpu.user + cpu.system) / total).toFixed(1)} us/task cpu`);
process.exit(0);
