// Typed reads of the machines' snapshots for the daemon's readers (status tracker, activity log, metrics): a renamed
// context field fails to compile here instead of breaking a page.
import type { SnapshotFrom } from 'xstate';
import type { WorkFrame } from '../src/protocol/index.ts';
import type { ProviderContext, providerMachine } from './provider.ts';
import type { supervisorMachine } from './supervisor.ts';
import type { TaskContext } from './task.ts';

/** Wire names of the providers published now, in the order they were published. */
export function publishedNames(snapshot: SnapshotFrom<typeof supervisorMachine>): string[] {
  return Object.keys(snapshot.context.providers);
}

/** The model names a `model: "*"` provider's catalog lists now (none before its first list answer). */
export function catalogNames(snapshot: SnapshotFrom<typeof supervisorMachine>, catalog: string): string[] {
  return snapshot.context.catalogs[catalog]?.names ?? [];
}

/** What a reader shows of a task; `kind` absent for one refused without a frame to run. */
export interface TaskFacts {
  taskId: string;
  llmName: string;
  kind?: WorkFrame['kind'];
  streaming: boolean;
  receivedAt?: number;
  error?: string;
}

export function taskFacts(context: TaskContext): TaskFacts {
  const { frame, result } = context;
  return {
    taskId: context.taskId,
    llmName: context.llmName,
    ...(frame ? { kind: frame.kind } : {}),
    streaming: frame !== undefined && frame.kind !== 'wake' && frame.streaming,
    ...(context.receivedAt !== undefined ? { receivedAt: context.receivedAt } : {}),
    ...(result && 'error' in result ? { error: result.error } : {}),
  };
}

/** Ids of the tasks waiting for a slot, oldest first, at most `limit` of them. */
export function queuedIds(context: ProviderContext, limit: number): string[] {
  return context.queue.slice(0, limit).map(({ id }) => id);
}

export type ProviderSnapshot = SnapshotFrom<typeof providerMachine>;
