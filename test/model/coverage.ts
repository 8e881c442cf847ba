// Which states and transitions of the real machines the daemon went through, read from xstate's inspection events,
// measured against the catalogue of every state and every transition those machines define.
import type { AnyStateMachine, InspectionEvent } from 'xstate';

type StateNode = AnyStateMachine['root'];
interface TransitionDefinition {
  source: StateNode;
  eventType: string;
  target?: readonly StateNode[];
  guard?: unknown;
}

/** Every state node under the root, depth first (the root itself is the machine, not a state). */
export function stateNodesOf(machine: AnyStateMachine): StateNode[] {
  const nodes: StateNode[] = [];
  const walk = (node: StateNode) => {
    for (const child of Object.values(node.states) as StateNode[]) {
      nodes.push(child);
      walk(child);
    }
  };
  walk(machine.root);
  return nodes;
}

/**
 * A transition's identity, stable across `machine.provide()` (which builds new node objects): its source state,
 * its event (`always` for eventless ones) and its place among the candidates for that event.
 */
export function transitionKey(transition: TransitionDefinition): string | undefined {
  const { source, eventType } = transition;
  const candidates = (eventType === '' ? source.always : source.transitions.get(eventType)) as TransitionDefinition[] | undefined;
  const index = candidates?.indexOf(transition) ?? -1;
  if (index < 0) return undefined;
  return `${source.id} ${eventType === '' ? 'always' : eventType}#${index}`;
}

/** `probing ─xstate.done.actor.probe[1]→ hibernating`: a transition as a person reads it. */
function describeTransition(transition: TransitionDefinition, index: number): string {
  const machineId = transition.source.machine.id;
  const local = (node: StateNode) => (node.id === machineId ? '(root)' : node.id.slice(machineId.length + 1));
  const event = transition.eventType === '' ? 'always' : transition.eventType;
  const targets = transition.target?.map(local).join(', ') ?? '(stays)';
  return `${local(transition.source)} ─${event}${index > 0 || transition.guard ? `[${index}]` : ''}→ ${targets}`;
}

export interface Catalogue {
  machine: string;
  /** State ids, without the root. */
  states: string[];
  /** Transition key → readable description. */
  transitions: Map<string, string>;
}

export function catalogueOf(machine: AnyStateMachine): Catalogue {
  const transitions = new Map<string, string>();
  for (const node of [machine.root, ...stateNodesOf(machine)]) {
    const lists = [...(node.transitions.values() as Iterable<TransitionDefinition[]>), (node.always ?? []) as TransitionDefinition[]];
    for (const list of lists) {
      list.forEach((transition, index) => {
        const key = transitionKey(transition);
        if (key) transitions.set(key, describeTransition(transition, index));
      });
    }
  }
  return { machine: machine.id, states: stateNodesOf(machine).map((node) => node.id), transitions };
}

/** The active state nodes of a machine snapshot (any snapshot that is not a machine's gives none). */
function activeNodes(snapshot: unknown): StateNode[] {
  return ((snapshot as { _nodes?: StateNode[] })._nodes ?? []).filter((node) => node.parent !== undefined);
}

/** Collects, across every daemon it is given the inspection events of, the states entered and transitions taken. */
export class CoverageRecorder {
  readonly states = new Map<string, Set<string>>();
  readonly transitions = new Map<string, Set<string>>();

  readonly observe = (event: InspectionEvent): void => {
    if (event.type === '@xstate.microstep') {
      for (const transition of event._transitions as TransitionDefinition[]) {
        const key = transitionKey(transition);
        const machineId = transition.source.machine.id;
        if (key) this.add(this.transitions, machineId, key);
        if (transition.source.parent) this.add(this.states, machineId, transition.source.id);
      }
    }
    if (event.type === '@xstate.microstep' || event.type === '@xstate.snapshot') {
      for (const node of activeNodes(event.snapshot)) this.add(this.states, node.machine.id, node.id);
    }
  };

  private add(map: Map<string, Set<string>>, machineId: string, id: string): void {
    let set = map.get(machineId);
    if (!set) map.set(machineId, (set = new Set()));
    set.add(id);
  }

  report(catalogue: Catalogue): CoverageReport {
    const states = this.states.get(catalogue.machine) ?? new Set();
    const taken = this.transitions.get(catalogue.machine) ?? new Set();
    return {
      machine: catalogue.machine,
      states: { covered: catalogue.states.filter((id) => states.has(id)).length, total: catalogue.states.length },
      transitions: { covered: [...catalogue.transitions.keys()].filter((key) => taken.has(key)).length, total: catalogue.transitions.size },
      missedStates: catalogue.states.filter((id) => !states.has(id)),
      missedTransitions: [...catalogue.transitions].filter(([key]) => !taken.has(key)).map(([, text]) => text),
    };
  }
}

export interface CoverageReport {
  machine: string;
  states: { covered: number; total: number };
  transitions: { covered: number; total: number };
  missedStates: string[];
  missedTransitions: string[];
}

export function coverageTable(reports: CoverageReport[], paths: Record<string, { paths: number; steps: number }>): string {
  const rows = [
    ['machine', 'states', 'transitions', 'paths', 'steps'],
    ...reports.map((r) => [
      r.machine,
      `${r.states.covered}/${r.states.total}`,
      `${r.transitions.covered}/${r.transitions.total}`,
      String(paths[r.machine]?.paths ?? '—'),
      String(paths[r.machine]?.steps ?? '—'),
    ]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  '));
  for (const r of reports) {
    for (const id of r.missedStates) lines.push(`  ${r.machine}: state not covered: ${id}`);
    for (const text of r.missedTransitions) lines.push(`  ${r.machine}: transition not covered: ${text}`);
  }
  return lines.join('\n');
}
