// Drives tasks through the real provider and task machines with instant fake actors, under a bare parent, and prints
// the V8 heap after a full collection at each checkpoint as JSON: test/machines/heap-bound.test.ts reads it.
// `node --expose-gc --import tsx test/machines/heap-bound.script.ts [TASKS_PER_CHECKPOINT] [CHECKPOINTS]`
import { createActor, fromPromise, setup } from 'xstate';
import { providerMachine, type ProbeInput, type Readiness, type WakeInput, type WakeStarted } from '../../machines/provider.ts';
import { taskMachine, type PostResultInput, type RunTaskInput, type RunTaskOutput } from '../../machines/task.ts';

const perCheckpoint = Number(process.argv[2] ?? 5_000);
const checkpoints = Number(process.argv[3] ?? 5);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const task = taskMachine.provide({
  actors: {
    runTask: fromPromise<RunTaskOutput, RunTaskInput>(async () => ({ result: { status: 200, body: { ok: true } } })),
    postResult: fromPromise<void, PostResultInput>(async () => undefined),
  },
});
const provider = providerMachine.provide({
  actors: {
    task,
    probe: fromPromise<boolean, ProbeInput>(async () => true),
    readiness: fromPromise<Readiness, ProbeInput>(async () => ({ ready: true, at: 0 })),
    wakeRecipe: fromPromise<WakeStarted, WakeInput>(async () => ({ startedAt: 0 })),
  },
});

let settled = 0;
let wake: (() => void) | undefined;
const parent = setup({ actors: { provider } }).createMachine({
  invoke: {
    id: 'provider',
    src: 'provider',
    input: { name: 'p', upstream: 'fake', hasWake: false, maxConcurrency: 8, maxQueue: 1_000, wakePollMs: 1_000, wakePollStartMs: 100, wakeMaxWaitMs: 1_000, reprobeMs: 1_000, reprobeCapMs: 30_000 },
  },
  on: {
    'task.settled': {
      actions: () => {
        settled++;
        wake?.();
      },
    },
  },
});
const actor = createActor(parent).start();
const ref = actor.getSnapshot().children.provider!;

let sent = 0;
async function drive(count: number): Promise<void> {
  const target = sent + count;
  while (sent < target) {
    // 64 at a time: under the queue limit, and as many task ids alive as a busy registrar has.
    const batch = Math.min(64, target - sent);
    for (let i = 0; i < batch; i++) {
      const taskId = `task-${sent++}`;
      ref.send({ type: 'task.received', frame: { kind: 'infer', taskId, llmName: 'p', streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] } }, receivedAt: Date.now() });
    }
    while (settled < sent) await new Promise<void>((resolve) => (wake = resolve));
  }
}

const heap: number[] = [];
for (let i = 0; i < checkpoints; i++) {
  await drive(perCheckpoint);
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
  heap.push(process.memoryUsage().heapUsed);
}
actor.stop();
process.stdout.write(`${JSON.stringify({ perCheckpoint, heap, live: Object.keys(ref.getSnapshot().children).length })}\n`);
