// Runs a machine under a parent that records what it is told, so sendParent has somewhere to go.
import { assign, createActor, setup, type AnyActorLogic, type AnyEventObject, type AnyActorRef } from 'xstate';

/** `input`, or a function of the parent that builds it (for a child that sends to it by ref). */
export function underParent<TLogic extends AnyActorLogic>(logic: TLogic, input: unknown) {
  const parent = setup({
    types: { context: {} as { received: AnyEventObject[] } },
    actors: { child: logic as AnyActorLogic },
  }).createMachine({
    context: { received: [] },
    invoke: { id: 'child', src: 'child', input: ({ self }: { self: AnyActorRef }) => (typeof input === 'function' ? (input as (parent: AnyActorRef) => unknown)(self) : input) },
    on: { '*': { actions: assign({ received: ({ context, event }) => [...context.received, event] }) } },
  });
  const actor = createActor(parent).start();
  const child = actor.getSnapshot().children.child as AnyActorRef;
  return {
    actor,
    child,
    state: () => child.getSnapshot().value as unknown,
    context: () => child.getSnapshot().context as Record<string, unknown>,
    received: (type?: string) => actor.getSnapshot().context.received.filter((e) => type === undefined || e.type === type),
    send: (event: AnyEventObject) => child.send(event),
  };
}
