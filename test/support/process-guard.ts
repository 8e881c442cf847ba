// Fails the test during which the process saw an unhandled rejection or an uncaught exception: the daemon must turn
// every failure of an actor into an event for its parent, never into one of these (ARCHITECTURE.md).
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

export function guardProcess(): void {
  const seen: string[] = [];
  const onRejection = (reason: unknown) => void seen.push(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`);
  const onException = (error: Error) => void seen.push(`uncaught exception: ${error?.stack ?? String(error)}`);
  beforeAll(() => {
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
  });
  afterAll(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
  afterEach(() => {
    expect(seen.splice(0)).toEqual([]);
  });
}
