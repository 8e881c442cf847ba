// Actor doubles that answer at once, for the supervisor's tests and bench/machine-cost.ts: a provider whose upstream is
// up, a catalog with nothing to list, and a session that registers as `s1` and hands its task stream to the caller.
import { fromCallback, fromPromise, type AnyEventObject } from 'xstate';
import type { ListModelsInput } from '../../machines/catalog.ts';
import type { ProbeInput, Readiness } from '../../machines/provider.ts';
import type { TaskStreamInput } from '../../machines/session.ts';
import type { CatalogActors, ProviderActors, SessionActors } from '../../machines/wiring.ts';

export const upProvider: ProviderActors = {
  probe: fromPromise<boolean, ProbeInput>(async () => true),
  readiness: fromPromise<Readiness, ProbeInput>(async () => ({ ready: true, at: 0 })),
  wakeRecipe: fromPromise(async () => ({ startedAt: 0 })),
};

export const emptyCatalog: CatalogActors = { listModels: fromPromise<string[] | undefined, ListModelsInput>(async () => undefined) };

/**
 * `opened` gets what sends a frame event down the task stream, as the real stream sends it: to the supervisor.
 * `left` hears each leave.
 */
export function streamingSession(opened: (send: (event: AnyEventObject) => void) => void, left: (sessionId: string) => void = () => undefined): SessionActors {
  return {
    register: fromPromise(async () => ({ sessionId: 's1' })),
    heartbeat: fromCallback(() => undefined),
    taskStream: fromCallback<AnyEventObject, TaskStreamInput>(({ input }) => void opened((event) => input.frames.send(event))),
    leave: fromPromise<void, { sessionId: string }>(async ({ input }) => void left(input.sessionId)),
  };
}
