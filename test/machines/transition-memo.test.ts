import { describe, expect, it } from 'vitest';
import { assign, createActor, createMachine, fromPromise, setup, stopChild } from 'xstate';
import { boundTransitionMemo } from '../../src/transition-memo.ts';

// A parent that spawns children named by id, and hears of their end by a wildcard, beside an invoke with its own onDone
// and a narrower wildcard: the transitions taken, and the events their actions see, are those of XState unbounded.
const child = createMachine({ id: 'child', initial: 'on', states: { on: { on: { finish: 'off' } }, off: { type: 'final' } }, output: () => ({ ok: true }) });

const actorIdOf = (event: unknown): string => (event as { actorId: string }).actorId;

const parent = setup({
  types: { context: {} as { ended: string[]; probed: boolean; named: string[] }, events: {} as { type: 'spawn'; id: string } | { type: 'finish'; id: string } },
  actors: { child, probe: fromPromise(async () => 'ready') },
}).createMachine({
  id: 'parent',
  context: { ended: [], probed: false, named: [] },
  invoke: { id: 'probe', src: 'probe', onDone: { actions: assign({ probed: ({ event }) => event.output === 'ready' }) } },
  on: {
    spawn: { actions: assign(({ context, event, spawn }) => (spawn('child', { id: event.id }), context)) },
    finish: { actions: ({ context, event, self }) => (self.getSnapshot().children[event.id] as { send(e: { type: 'finish' }): void }).send({ type: 'finish' }) },
    'xstate.done.actor.named.*': { actions: assign({ named: ({ context, event }) => [...context.named, actorIdOf(event)] }) },
    'xstate.done.actor.*': {
      guard: ({ event }: { event: unknown }) => (event as { output?: { ok?: boolean } }).output?.ok === true,
      actions: [assign({ ended: ({ context, event }) => [...context.ended, event.type] }), stopChild(({ event }) => actorIdOf(event))],
    },
  },
});

describe('bounded transition memo', () => {
  it('takes the same transitions, and hands actions the real event', async () => {
    boundTransitionMemo();
    boundTransitionMemo();
    const actor = createActor(parent).start();
    for (const id of ['t-1', 't-2', 'named.x']) actor.send({ type: 'spawn', id });
    for (const id of ['t-2', 't-1', 'named.x']) actor.send({ type: 'finish', id });
    await new Promise((resolve) => setTimeout(resolve, 0));
    const { context, children } = actor.getSnapshot();
    expect(context.probed).toBe(true);
    expect(context.ended).toEqual(['xstate.done.actor.t-2', 'xstate.done.actor.t-1']);
    expect(context.named).toEqual(['named.x']);
    expect(Object.keys(children).sort()).toEqual(['named.x', 'probe']);
  });
});
