// The real actors of each machine, from what the daemon gives them (machines/wiring.ts puts them in place).
import type { CatalogActors, ProviderActors, RegistrarImplementations, SessionActors, SupervisorActors, TaskActors } from '../machines/wiring.ts';
import { answerRestartedActor } from './answer-restarted.ts';
import type { ActorDeps } from './deps.ts';
import { heartbeatActor } from './heartbeat.ts';
import { leaveActor } from './leave.ts';
import { listModelsActor } from './list-models.ts';
import { postResultActor } from './post-result.ts';
import { probeActor, readinessActor } from './probe.ts';
import { registerActor } from './register.ts';
import { runInferenceActor } from './run-inference.ts';
import { taskStreamActor } from './task-stream.ts';
import { wakeRecipeActor } from './wake-recipe.ts';

export function createTaskImplementations(deps: ActorDeps): TaskActors {
  return { runTask: runInferenceActor(deps), postResult: postResultActor(deps) };
}

export function createProviderImplementations(deps: ActorDeps): ProviderActors {
  return { probe: probeActor(deps), readiness: readinessActor(deps), wakeRecipe: wakeRecipeActor(deps) };
}

export function createSessionImplementations(deps: ActorDeps): SessionActors {
  return { register: registerActor(deps), heartbeat: heartbeatActor(deps), taskStream: taskStreamActor(deps), leave: leaveActor(deps) };
}

export function createCatalogImplementations(deps: ActorDeps): CatalogActors {
  return { listModels: listModelsActor(deps) };
}

export function createSupervisorImplementations(deps: ActorDeps): SupervisorActors {
  return { answerRestarted: answerRestartedActor(deps) };
}

export function createRegistrarImplementations(deps: ActorDeps): RegistrarImplementations {
  return {
    task: createTaskImplementations(deps),
    provider: createProviderImplementations(deps),
    session: createSessionImplementations(deps),
    catalog: createCatalogImplementations(deps),
    supervisor: createSupervisorImplementations(deps),
  };
}
