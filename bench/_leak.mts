import { createActor, fromCallback, fromPromise, type AnyEventObject } from 'xstate';
import { providerMachine } from '../machines/provider.ts';
import { sessionMachine } from '../machines/session.ts';
import { supervisorMachine } from '../machines/supervisor.ts';
import { taskMachine, type PostResultInput, type RunTaskInput, type RunTaskOutput } from '../machines/task.ts';
if (process.env.BOUND) { const { boundTransitionMemo } = await import('../src/transition-memo.ts'); boundTransitionMemo(); }
const withTracker = process.argv[2] === 'tracker';
let stream: ((event: AnyEventObject) => void) | undefined;
let done = 0, next = 0, target = 0; let finish!: () => void;
const send = () => { const id = `t-${next++}`; stream!({ type: 'stream.task', frame: { kind: 'infer', taskId: id, llmName: 'local', streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] } } }); };
const task = taskMachine.provide({ actors: {
  runTask: fromPromise<RunTaskOutput, RunTaskInput>(async ({ input }) => ({ result: { status: 200, body: { id: input.frame.taskId } } })),
  postResult: fromPromise<void, PostResultInput>(async () => { done++; if (done === target) finish(); else if (next < target) setImmediate(send); }) } });
const machine = supervisorMachine.provide({ actors: { task,
  provider: providerMachine.provide({ actors: { task, probe: fromPromise(async () => true), wakeRecipe: fromPromise<void, { name: string }>(async () => undefined) } }),
  session: sessionMachine.provide({ actors: { register: fromPromise(async () => ({ sessionId: 's1' })), heartbeat: fromCallback(() => undefined), taskStream: fromCallback(({ sendBack }) => void (stream = sendBack)) } }) } });
let inspect: any;
if (withTracker) { const { StatusTracker } = await import('../inspect/tracker.ts'); const t = new StatusTracker({ hubUrl: 'http://x' }); inspect = t.inspect; }
const actor = createActor(machine, { inspect, input: { session: { timing: { heartbeatMs: 1e6, backoffBaseMs: 100, backoffCapMs: 1_000, streamIdleMs: 1e6 } },
  providers: [{ name: 'local', upstream: 'x', hasWake: false, maxConcurrency: 256, wakePollMs: 10, wakeMaxWaitMs: 100, reprobeMs: 1_000 }], maxQueue: 1000, drainMs: 1_000, forceGraceMs: 200, restartedTasks: [] } });
actor.start();
await new Promise((r) => setTimeout(r, 20));
const runTo = async (n: number) => { target = n; const all = new Promise<void>((r) => (finish = r)); for (let i = 0; i < 64; i++) send(); await all; };
const heap = () => { (globalThis as any).gc(); (globalThis as any).gc(); return (process.memoryUsage().heapUsed / 1048576).toFixed(2); };
await runTo(20_000); console.log('20k heap', heap());
await runTo(60_000); console.log('60k heap', heap());
await runTo(100_000); console.log('100k heap', heap());
const snap = actor.getSnapshot() as any;
console.log('sup children', Object.keys(snap.children).length, 'inFlight', Object.keys(snap.context.inFlight).length, 'recent', snap.context.recent.length);
const prov = snap.children['provider:local']; const ps = prov.getSnapshot();
console.log('prov children', Object.keys(ps.children).length, 'tasks', Object.keys(ps.context.tasks).length, 'queue', ps.context.queue.length, 'running', ps.context.running.length);
console.log('sup observers', (actor as any).observers?.size, 'prov observers', prov.observers?.size, 'eventListeners', (actor as any).eventListeners?.size);
for (const [k, v] of Object.entries(actor as any)) if (v instanceof Map || v instanceof Set) console.log('actor field', k, (v as any).size);
for (const [k, v] of Object.entries(prov as any)) if (v instanceof Map || v instanceof Set) console.log('prov field', k, (v as any).size);
const sys = (actor as any).system; console.log(sys.scheduler, sys._snapshot);

process.exit(0);
