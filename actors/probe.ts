// Is the provider's upstream answering? (Each kind knows its own readiness check: src/providers.)
import { fromPromise } from 'xstate';
import type { ProbeInput } from '../machines/provider.ts';
import type { ActorDeps } from './deps.ts';

export function probeActor(deps: ActorDeps) {
  return fromPromise<boolean, ProbeInput>(async ({ input, signal }) => {
    const published = deps.providers.get(input.name);
    return published ? published.provider.isAvailable(signal) : false;
  });
}
