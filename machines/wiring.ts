// The supervisor with every actor its machines invoke filled in, from one set of implementations per machine: the
// daemon passes the real ones (actors/implementations.ts), the tests their doubles; the nesting is written only here.
import type { AnyStateMachine } from 'xstate';
import { catalogMachine } from './catalog.ts';
import { providerMachine } from './provider.ts';
import { sessionMachine } from './session.ts';
import { supervisorMachine } from './supervisor.ts';
import { taskMachine } from './task.ts';

/** The actors a machine invokes, each required, typed from the machine itself: a renamed actor fails to compile. */
type ActorsOf<TMachine extends AnyStateMachine> = Required<NonNullable<Parameters<TMachine['provide']>[0]['actors']>>;

export type TaskActors = ActorsOf<typeof taskMachine>;
/** Its tasks are the task machine, filled in from TaskActors. */
export type ProviderActors = Omit<ActorsOf<typeof providerMachine>, 'task'>;
export type SessionActors = ActorsOf<typeof sessionMachine>;
export type CatalogActors = ActorsOf<typeof catalogMachine>;
/** The supervisor's own; its children are the machines above. */
export type SupervisorActors = Omit<ActorsOf<typeof supervisorMachine>, 'session' | 'provider' | 'task' | 'catalog'>;

export interface RegistrarImplementations {
  task: TaskActors;
  provider: ProviderActors;
  session: SessionActors;
  catalog: CatalogActors;
  supervisor: SupervisorActors;
}

export function provideSupervisor(implementations: RegistrarImplementations) {
  const task = taskMachine.provide({ actors: implementations.task });
  return supervisorMachine.provide({
    actors: {
      ...implementations.supervisor,
      task,
      provider: providerMachine.provide({ actors: { ...implementations.provider, task } }),
      session: sessionMachine.provide({ actors: implementations.session }),
      catalog: catalogMachine.provide({ actors: implementations.catalog }),
    },
  });
}
