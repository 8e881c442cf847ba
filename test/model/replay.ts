// Paths through a test model, generated with xstate/graph, and their replay against the real daemon: each step's
// stimulus is applied to the stage, then the daemon's machine must reach the model's state (and take the transition
// the step names, where the state alone cannot show it), or the path fails with every step printed.
import { isDeepStrictEqual } from 'node:util';
import type { AnyMachineSnapshot, AnyStateMachine, EventFromLogic, InputFrom, SnapshotFrom } from 'xstate';
import { getAdjacencyMap, getShortestPaths, getSimplePaths, serializeSnapshot } from 'xstate/graph';
import type { Stage } from './stage.ts';

/** How long a step may take to show in the daemon: every stimulus is local, so this is only ever hit by a defect. */
const STEP_TIMEOUT_MS = 3_000;

export interface ModelStep<TModel extends AnyStateMachine> {
  event: EventFromLogic<TModel>;
  state: SnapshotFrom<TModel>;
}

export interface ModelPath<TModel extends AnyStateMachine> {
  /** Which input of the model it starts from (a label, for the test's title). */
  label: string;
  input: InputFrom<TModel>;
  /** The first step is the model's initial state (`xstate.init`). */
  steps: ModelStep<TModel>[];
}

export interface StepContext<TModel extends AnyStateMachine> {
  event: EventFromLogic<TModel>;
  /** The model's state before the step and after it. */
  before: SnapshotFrom<TModel>;
  after: SnapshotFrom<TModel>;
}

export interface Scenario<TModel extends AnyStateMachine> {
  /** The id of the real machine the model mirrors. */
  machine: string;
  model: TModel;
  inputs: { label: string; input: InputFrom<TModel> }[];
  /** Every stimulus, one object per event type. */
  events: EventFromLogic<TModel>[];
  /** Starts the stage for one path (the daemon, its hub, its model server). */
  start(input: InputFrom<TModel>): Promise<Stage>;
  /** The trace id of the actor whose state the model mirrors. */
  actor(stage: Stage): string;
  /** What each stimulus does to the world. */
  stimuli: { [K in EventFromLogic<TModel>['type']]: (stage: Stage, step: StepContext<TModel>) => Promise<void> | void };
  /**
   * A real transition the step must take, when the state value alone cannot show that the stimulus arrived; by any
   * machine of the daemon (a frame goes from the stream to the supervisor, past the session).
   */
  mustTake?(step: StepContext<TModel>): string | undefined;
  /** What the daemon must show besides the state value (counts of tasks, …), or undefined when it does. */
  mismatch?(stage: Stage, model: SnapshotFrom<TModel>): string | undefined;
  /** Housekeeping after a step has been checked: requests the new state no longer waits for, clocks to note. */
  afterStep?(stage: Stage, step: StepContext<TModel>): void;
}

/** The most states an input's model may have: getSimplePaths walks every simple path, and they grow exponentially. */
const SIMPLE_PATHS_UP_TO_STATES = 40;

/**
 * The paths to replay for one input of the model, from three kinds of candidates: a shortest path to every model
 * state (getShortestPaths), every simple path (getSimplePaths), and for every transition of the model
 * (getAdjacencyMap) the shortest path to its source followed by that transition, since a simple path never takes a
 * back edge or a self-loop (a keep-alive, a failed heartbeat, a retry). From these, a greedy cover picks paths until
 * every state and every transition of the model is on one, each time the path that covers most of what is left,
 * so few daemons start and each path takes many steps.
 */
export function pathsThrough<TModel extends AnyStateMachine>(scenario: Scenario<TModel>): ModelPath<TModel>[] {
  const chosen: ModelPath<TModel>[] = [];
  for (const { label, input } of scenario.inputs) {
    const options = {
      input,
      events: scenario.events,
      filterEvents: (snapshot: AnyMachineSnapshot, event: EventFromLogic<TModel>) => snapshot.can(event),
    };
    type Found = { state: SnapshotFrom<TModel>; steps: ModelStep<TModel>[] }[];
    const shortest = getShortestPaths(scenario.model, options as never) as unknown as Found;
    const adjacency = getAdjacencyMap(scenario.model, options as never) as unknown as Record<string, { transitions: Record<string, ModelStep<TModel>> }>;
    // Simple paths grow exponentially with the model's states: past a few dozen they take minutes and gigabytes (a
    // worker dead of memory, not a failed test). Say so instead.
    const states = Object.keys(adjacency).length;
    if (states > SIMPLE_PATHS_UP_TO_STATES) {
      throw new Error(`${scenario.machine} model [${label}] has ${states} states: keep each input's model at ${SIMPLE_PATHS_UP_TO_STATES} or fewer (getSimplePaths)`);
    }
    const simple = getSimplePaths(scenario.model, options as never) as unknown as Found;
    const key = (snapshot: SnapshotFrom<TModel>) => serializeSnapshot(snapshot as AnyMachineSnapshot) as string;
    const toState = new Map<string, ModelStep<TModel>[]>(shortest.map((path) => [key(path.state), path.steps]));

    const candidates = [...shortest, ...simple].map((path) => path.steps);
    const required = new Set<string>();
    for (const [source, { transitions }] of Object.entries(adjacency)) {
      required.add(`state ${source}`);
      const prefix = toState.get(source);
      if (!prefix) throw new Error(`${scenario.machine} model: no shortest path to ${source}`);
      for (const [event, step] of Object.entries(transitions)) {
        required.add(`edge ${source} ${event}`);
        candidates.push([...prefix, step]);
      }
    }
    const covers = (steps: ModelStep<TModel>[]) => {
      if (steps[0]?.event.type !== 'xstate.init') throw new Error(`${scenario.machine} model: a path does not start at the initial state`);
      const items = new Set([`state ${key(steps[0].state)}`]);
      for (let i = 1; i < steps.length; i++) {
        items.add(`edge ${key(steps[i - 1].state)} ${JSON.stringify(steps[i].event)}`);
        items.add(`state ${key(steps[i].state)}`);
      }
      return items;
    };
    const pool = candidates.map((steps) => ({ steps, items: covers(steps) }));
    while (required.size > 0) {
      let best: (typeof pool)[number] | undefined;
      let gain = 0;
      for (const candidate of pool) {
        let n = 0;
        for (const item of candidate.items) if (required.has(item)) n++;
        if (n > gain || (n === gain && n > 0 && best && candidate.steps.length < best.steps.length)) [best, gain] = [candidate, n];
      }
      if (!best) throw new Error(`${scenario.machine} model: no path covers ${[...required].join(', ')}`);
      for (const item of best.items) required.delete(item);
      chosen.push({ label, input, steps: best.steps });
    }
  }
  return chosen;
}

/** `registering ─hub.registerOk→ connected.streaming.connecting ─stream.opens→ …` */
export function describePath<TModel extends AnyStateMachine>(path: ModelPath<TModel>, failedAt?: number): string {
  const name = (snapshot: SnapshotFrom<TModel>) => flatten((snapshot as AnyMachineSnapshot).value);
  let text = `[${path.label}] ${name(path.steps[0].state)}`;
  path.steps.slice(1).forEach((step, index) => {
    text += ` ─${step.event.type}→ ${name(step.state)}`;
    if (failedAt === index + 1) text += '   ◀── FAILED HERE';
  });
  return text;
}

export function titleOf<TModel extends AnyStateMachine>(path: ModelPath<TModel>): string {
  const events = path.steps.slice(1).map((step) => step.event.type);
  return `[${path.label}] ${events.length ? events.join(' → ') : '(initial state)'} ⇒ ${flatten((path.steps.at(-1)!.state as AnyMachineSnapshot).value)}`;
}

export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, inner] = Object.entries(value as Record<string, unknown>)[0] ?? [];
  return key === undefined ? '' : `${key}.${flatten(inner)}`;
}

export async function replay<TModel extends AnyStateMachine>(scenario: Scenario<TModel>, path: ModelPath<TModel>): Promise<void> {
  const stage = await scenario.start(path.input);
  try {
    for (let index = 0; index < path.steps.length; index++) {
      const { event } = path.steps[index];
      const state = path.steps[index].state as AnyMachineSnapshot;
      const step: StepContext<TModel> = { event, before: path.steps[Math.max(0, index - 1)].state, after: path.steps[index].state };
      const mark = stage.trace.mark();
      if (index > 0) await scenario.stimuli[event.type as EventFromLogic<TModel>['type']](stage, step);
      const actor = scenario.actor(stage);
      const mustTake = index > 0 ? scenario.mustTake?.(step) : undefined;
      const check = () =>
        isDeepStrictEqual(stage.trace.values.get(actor), state.value) &&
        scenario.mismatch?.(stage, path.steps[index].state) === undefined &&
        (mustTake === undefined || stage.trace.takenSince(mark).includes(mustTake));
      if (await stage.trace.until(check, STEP_TIMEOUT_MS)) {
        scenario.afterStep?.(stage, step);
        continue;
      }
      const actual = stage.trace.values.get(actor);
      const problems = [
        ...(isDeepStrictEqual(actual, state.value) ? [] : [`the daemon's ${scenario.machine} is ${JSON.stringify(actual)}, the model's is ${JSON.stringify(state.value)}`]),
        ...[scenario.mismatch?.(stage, path.steps[index].state)].filter((text): text is string => text !== undefined),
        ...(mustTake === undefined || stage.trace.takenSince(mark).includes(mustTake) ? [] : [`the daemon did not take ${mustTake}`]),
      ];
      throw new Error(
        [
          `${scenario.machine}: step ${index} (${event.type}) did not reach the model's state within ${STEP_TIMEOUT_MS} ms: ${problems.join('; ')}`,
          `path: ${describePath(path, index)}`,
          `transitions the daemon's ${scenario.machine} took during the step: ${stage.trace.takenSince(mark, actor).join(', ') || '(none)'}`,
        ].join('\n'),
      );
    }
    const status = stage.daemon.actor?.getSnapshot().status;
    if (status === 'error') throw new Error(`${scenario.machine}: the supervisor crashed on path ${describePath(path)}`);
  } finally {
    await stage.close();
  }
}
