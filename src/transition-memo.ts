// Keeps XState from remembering one entry per task for ever. XState 5 memoizes, on every state node, the transitions
// that match each event type the node sees, and never forgets one (StateNode.next: `candidates-${event.type}`). A
// parent hears `xstate.done.actor.<child id>` when a child ends, and our task actors are named by task id: every task
// left ~330 bytes behind (bench/memory.ts: +26 MB of heap over 80,000 tasks; the heap snapshot held 100,000
// `candidates-xstate.done.actor.<id>` arrays). Such an event, on a node with no transition of its own for that exact
// child (an invoke's onDone), is matched through one stand-in type that the same wildcard descriptors match, so the
// memo holds one entry instead of one per task. Which transition is taken, and the event its actions see, are unchanged.
import { StateNode } from 'xstate';

const PER_ACTOR_PREFIXES = ['xstate.done.actor.', 'xstate.error.actor.'] as const;
const STAND_IN_ID = '\u0000any-child';

type Next = (snapshot: unknown, event: { type: string }) => unknown;
interface NodeWithTransitions {
  transitions: Map<string, unknown>;
}

/** Nodes with a wildcard narrower than `xstate.done.actor.*` (say `xstate.done.actor.fetch.*`): matched as they were. */
const narrowWildcards = new WeakMap<object, boolean>();

function hasNarrowWildcard(node: NodeWithTransitions, prefix: string): boolean {
  let known = narrowWildcards.get(node);
  if (known === undefined) {
    known = [...node.transitions.keys()].some((descriptor) => descriptor.startsWith(prefix) && descriptor.endsWith('.*') && descriptor !== `${prefix}*`);
    narrowWildcards.set(node, known);
  }
  return known;
}

let installed = false;

/** Installs the bound once per process; idempotent. */
export function boundTransitionMemo(): void {
  if (installed) return;
  installed = true;
  const prototype = StateNode.prototype as unknown as { next: Next };
  const next = prototype.next;
  prototype.next = function (this: NodeWithTransitions, snapshot, event) {
    const type = event.type;
    const prefix = PER_ACTOR_PREFIXES.find((p) => type.startsWith(p));
    if (prefix === undefined || this.transitions.has(type) || hasNarrowWildcard(this, prefix)) return next.call(this, snapshot, event);
    // Guards still read everything else of the event (its output, its error) through the prototype.
    return next.call(this, snapshot, Object.create(event, { type: { value: prefix + STAND_IN_ID, enumerable: true } }) as { type: string });
  };
}
