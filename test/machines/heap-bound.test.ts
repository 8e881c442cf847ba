// The registrar's heap stays flat however many tasks it has run, without patching XState: 20,000 tasks through the
// real provider and task machines (fake actors) in a process of their own with --expose-gc. A task's end that left
// XState an entry per task id (a `final` task state: `xstate.done.actor.<id>` memoized on every node) grows it
// ~200 bytes a task here: 3 MB over the 15,000 measured; the bound is 1 MB.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./heap-bound.script.ts', import.meta.url));
const MB = 1024 * 1024;

describe('heap bound', () => {
  it('keeps the heap flat over 20,000 tasks', { timeout: 180_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', SCRIPT, '5000', '4'], { maxBuffer: 1024 * 1024 });
    const { heap, live } = JSON.parse(stdout) as { heap: number[]; live: number };
    expect(live).toBe(0);
    // From the first checkpoint (JIT, pools and XState's own memo warm) to the last.
    const growth = heap.at(-1)! - heap[0];
    expect(growth / MB).toBeLessThan(1);
  });
});
