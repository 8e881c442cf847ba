// The embedded hub's state: the registry and the task table in this process, nothing shared (the default).
import type { Registry } from '../registry.ts';
import type { TaskTable } from '../tasks.ts';
import type { HubState } from './index.ts';

export function memoryState(registry: Registry, tasks: TaskTable): HubState {
  return {
    registry,
    tasks,
    localTasks: tasks,
    unavailable: () => undefined,
    register: async (user, request, now) => registry.register(user, request, now),
    heartbeat: async (user, request, now) => registry.heartbeat(user, request, now),
    leave: async (user, sessionId) => registry.leave(user, sessionId),
    catchUp: async () => {},
    collectExpired: async (now) => registry.collectExpired(now),
    close: async () => {},
  };
}
