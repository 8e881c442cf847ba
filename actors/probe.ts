// Is the provider's upstream answering? (Each kind knows its own readiness check: src/providers.) The readiness
// poll of a wake asks the same, and says when the answer came: the wake's duration is measured here, not in a machine.
import { fromPromise } from 'xstate';
import type { ProbeInput, Readiness } from '../machines/provider.ts';
import type { ActorDeps } from './deps.ts';

type ProbeDeps = Pick<ActorDeps, 'providers'>;

async function isUp(deps: ProbeDeps, name: string, signal: AbortSignal): Promise<boolean> {
  const published = deps.providers.get(name);
  return published ? published.provider.isAvailable(signal) : false;
}

export function probeActor(deps: ProbeDeps) {
  return fromPromise<boolean, ProbeInput>(({ input, signal }) => isUp(deps, input.name, signal));
}

export function readinessActor(deps: ProbeDeps) {
  return fromPromise<Readiness, ProbeInput>(async ({ input, signal }) => ({ ready: await isUp(deps, input.name, signal), at: Date.now() }));
}
