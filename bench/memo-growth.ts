// A minimal reproduction of XState 5's transition memo growth, worth reporting upstream: a parent spawns children
// with unique ids that reach a final state, and stops each on its done event. StateNode.next memoizes the candidate
// transitions per event type (`candidates-${event.type}`, in a WeakMap keyed by the state node, never evicted), and a
// child's done event is `xstate.done.actor.<child id>`: one entry per child the machine ever had, for the life of the
// machine definition. The same children ending with a fixed-type event (`child.settled`) and stopped by the parent
// leave nothing behind. `node --expose-gc --import tsx bench/memo-growth.ts`
import { createActor, enqueueActions, sendParent, setup, stopChild } from 'xstate';

const CHILDREN = 50_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heapAfter(run: () => void): number {
  gc!();
  const before = process.memoryUsage().heapUsed;
  run();
  gc!();
  return process.memoryUsage().heapUsed - before;
}

/** `final`: the child ends in a final state (done event per id); else it tells `child.settled` and is stopped. */
function parentMachine(final: boolean) {
  const child = setup({}).createMachine({
    initial: 'working',
    states: {
      working: { on: { finish: 'finished' } },
      finished: final ? { type: 'final' } : { entry: sendParent(({ self }) => ({ type: 'child.settled', id: self.id })) },
    },
  });
  return setup({ actors: { child } }).createMachine({
    on: {
      spawn: {
        actions: enqueueActions(({ enqueue, event }) => {
          enqueue.spawnChild('child', { id: (event as unknown as { id: string }).id });
          enqueue.sendTo((event as unknown as { id: string }).id, { type: 'finish' });
        }),
      },
      'xstate.done.actor.*': { actions: stopChild(({ event }) => (event as unknown as { actorId: string }).actorId) },
      'child.settled': { actions: stopChild(({ event }) => (event as unknown as { id: string }).id) },
    },
  });
}

for (const final of [true, false]) {
  const actor = createActor(parentMachine(final)).start();
  let i = 0;
  const grown = heapAfter(() => {
    for (; i < CHILDREN; i++) actor.send({ type: 'spawn', id: `child-${i}` } as never);
  });
  const live = Object.keys(actor.getSnapshot().children).length;
  process.stdout.write(
    `${final ? 'final state (xstate.done.actor.<id>)' : 'child.settled + stopChild     '}: ${CHILDREN} children, ${live} still alive, ` +
      `heap +${(grown / 1024 / 1024).toFixed(2)} MB (${Math.round(grown / CHILDREN)} bytes per child)\n`,
  );
}
