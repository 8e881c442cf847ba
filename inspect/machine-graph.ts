// The machines as plain data for the status page's drawings: every state node (nested), what it invokes, and the
// transitions leaving it, read from the machine definitions themselves so a drawing can never drift from the code.
import type { AnyStateMachine } from 'xstate';
import { END_TAG } from '../machines/task.ts';

export interface GraphTarget {
  /** Path of the target state relative to the machine (`connected.backoff`). */
  path: string;
  /** The guard that must pass for this target, by name. */
  guard?: string;
}

export interface GraphTransition {
  /** What triggers it, as a reader would say it: `stream.failed`, `after retry`, `register done`, `always`. */
  label: string;
  /** Where it goes, candidates in the order they are tried; empty for a self-transition (re-entry). */
  targets: GraphTarget[];
}

export interface GraphNode {
  key: string;
  /** Dotted path from the machine's root (`connected.streaming.open`); '' for the root itself. */
  path: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  initial?: string;
  invokes: string[];
  transitions: GraphTransition[];
  states: GraphNode[];
}

interface StateNodeLike {
  key: string;
  id: string;
  type: GraphNode['type'];
  machine: { id: string };
  states: Record<string, StateNodeLike>;
  initial?: { target: readonly StateNodeLike[] };
  invoke: readonly { id: string; src: string }[];
  transitions: Map<string, readonly CandidateLike[]>;
  always?: readonly CandidateLike[];
  tags: readonly string[];
}

interface CandidateLike {
  target?: readonly StateNodeLike[];
  reenter?: boolean;
  guard?: unknown;
}

export function machineGraph(machine: AnyStateMachine): GraphNode {
  return nodeOf(machine.root as unknown as StateNodeLike);
}

function pathOf(node: StateNodeLike): string {
  const prefix = `${node.machine.id}.`;
  return node.id === node.machine.id ? '' : node.id.startsWith(prefix) ? node.id.slice(prefix.length) : node.id;
}

function guardName(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return undefined;
}

function targetsOf(candidates: readonly CandidateLike[]): GraphTarget[] {
  return candidates.flatMap((candidate) => {
    const guard = guardName(candidate.guard);
    return (candidate.target ?? []).map((target) => (guard ? { path: pathOf(target), guard } : { path: pathOf(target) }));
  });
}

/** How an event type reads in a drawing or a log of transitions: `after retry`, `register done`, `probe failed`. */
export function labelOf(eventType: string): string {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return done[1] === '*' ? 'a child actor ends' : `${done[1]} done`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `${error[1]} failed`;
  return eventType;
}

function nodeOf(node: StateNodeLike): GraphNode {
  const transitions: GraphTransition[] = [];
  for (const [eventType, candidates] of node.transitions) {
    const targets = targetsOf(candidates);
    // Transitions that only run actions (no target, no re-entry) do not move the machine: leave them out.
    if (targets.length === 0 && !candidates.some((c) => c.reenter)) continue;
    transitions.push({ label: labelOf(eventType), targets });
  }
  const always = targetsOf(node.always ?? []);
  if (always.length > 0) transitions.push({ label: 'always', targets: always });
  const initial = node.initial?.target[0];
  return {
    key: node.key,
    path: pathOf(node),
    // A task's last states are not `final` to XState (its parent stops it there: machines/task.ts), but they end it.
    type: node.tags.includes(END_TAG) ? 'final' : node.type,
    ...(initial ? { initial: pathOf(initial) } : {}),
    invokes: node.invoke.map((invoke) => invoke.src),
    transitions,
    states: Object.values(node.states).map(nodeOf),
  };
}

/** Every state path a snapshot value is in: `{ connected: { streaming: 'open' } }` → connected, connected.streaming, connected.streaming.open. */
export function activePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => [prefix + key, ...activePaths(inner, `${prefix}${key}.`)]);
}

/** The deepest active state, dotted: `connected.streaming.open`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return '';
  return Object.entries(value as Record<string, unknown>)
    .map(([key, inner]) => {
      const rest = stateName(inner);
      return rest ? `${key}.${rest}` : key;
    })
    .join(' + ');
}
