// The drawings of the status page come from the machine definitions themselves.
import { describe, expect, it } from 'vitest';
import { activePaths, machineGraph, stateName, type GraphNode } from '../../inspect/machine-graph.ts';
import { providerMachine } from '../../machines/provider.ts';
import { sessionMachine } from '../../machines/session.ts';
import { taskMachine } from '../../machines/task.ts';

function find(node: GraphNode, path: string): GraphNode | undefined {
  if (node.path === path) return node;
  for (const child of node.states) {
    const found = find(child, path);
    if (found) return found;
  }
  return undefined;
}

function allPaths(node: GraphNode): string[] {
  return [node.path, ...node.states.flatMap(allPaths)];
}

describe('machineGraph', () => {
  it('lists every state node of the session machine, nested, with what it invokes', () => {
    const graph = machineGraph(sessionMachine);
    expect(graph.initial).toBe('registering');
    expect(allPaths(graph)).toEqual([
      '',
      'registering',
      'retrying',
      'connected',
      'connected.streaming',
      'connected.streaming.connecting',
      'connected.streaming.open',
      'connected.backoff',
      'draining',
      'draining.heartbeating',
      'draining.idle',
      'leaving',
      'stopped',
    ]);
    expect(find(graph, 'registering')?.invokes).toEqual(['register']);
    expect(find(graph, 'connected.streaming')?.invokes).toEqual(['taskStream']);
    expect(find(graph, 'leaving')?.invokes).toEqual(['leave']);
    expect(find(graph, 'stopped')?.type).toBe('final');
  });

  it('names the transitions as a reader would, with their targets and guards', () => {
    const session = machineGraph(sessionMachine);
    expect(find(session, 'registering')?.transitions).toEqual([
      { label: 'session.publish', targets: [{ path: 'registering' }] },
      { label: 'register done', targets: [{ path: 'connected' }] },
      { label: 'register failed', targets: [{ path: 'registering', guard: 'sessionIdRefused' }, { path: 'retrying' }] },
    ]);
    expect(find(session, 'retrying')?.transitions).toEqual([{ label: 'after retry', targets: [{ path: 'registering' }] }]);
    expect(find(session, 'connected.streaming.open')?.transitions).toContainEqual({ label: 'stream.activity', targets: [{ path: 'connected.streaming.open' }] });
    // Transitions that only run actions do not move the machine and are left out of the drawing.
    expect(find(session, 'connected')?.transitions.map((t) => t.label)).toEqual(['heartbeat.sessionLost', 'session.leave', 'session.publish']);
    expect(session.transitions.map((t) => t.label)).toEqual(['session.drain', 'session.leave', 'session.stop']);

    const provider = machineGraph(providerMachine);
    expect(find(provider, 'probing')?.transitions[0]).toEqual({
      label: 'probe done',
      targets: [{ path: 'active', guard: 'upstreamAnswered' }, { path: 'hibernating', guard: 'hasWake' }, { path: 'unavailable' }],
    });
    expect(find(provider, 'hibernating')?.transitions).toContainEqual({ label: 'always', targets: [{ path: 'waking', guard: 'hasQueued' }] });
    expect(machineGraph(taskMachine).states.map((s) => [s.key, s.type])).toEqual([
      ['queued', 'atomic'],
      ['running', 'atomic'],
      ['reporting', 'atomic'],
      ['done', 'final'],
      ['failed', 'final'],
      ['cancelled', 'final'],
    ]);
  });

  it('turns a state value into the paths to light and a readable name', () => {
    const value = { connected: { streaming: 'open' } };
    expect(activePaths(value)).toEqual(['connected', 'connected.streaming', 'connected.streaming.open']);
    expect(stateName(value)).toBe('connected.streaming.open');
    expect(activePaths('retrying')).toEqual(['retrying']);
    expect(stateName('retrying')).toBe('retrying');
  });
});
