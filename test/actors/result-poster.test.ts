// The result poster's window: what comes within `coalesceMs` of a send waits for the next, except the first two
// sends, which go at once — an OpenAI stream's first payload is the role alone, and the first words must not wait
// behind it. The window here is a minute, so nothing in this test waits on wall time.
import { describe, expect, it } from 'vitest';
import { PayloadMerge, ResultPoster } from '../../actors/result-poster.ts';
import type { TaskResult } from '../../src/protocol/index.ts';

const ROLE = JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] });
const words = (text: string) => JSON.stringify({ choices: [{ index: 0, delta: { content: text } }] });

function poster() {
  const sends: TaskResult[][] = [];
  const posting = new ResultPoster(async (results) => void sends.push(results), new PayloadMerge(), 60_000);
  return { posting, sends };
}

describe('ResultPoster', () => {
  it('sends the role and the first words at once, then gathers the rest for the window', async () => {
    const { posting, sends } = poster();
    posting.push(ROLE);
    await Promise.resolve();
    posting.push(words('Hello'));
    await Promise.resolve();
    posting.push(words(' there'));
    posting.push(words(','));
    await Promise.resolve();
    expect(sends.map((send) => send.length)).toEqual([1, 1]);
    await posting.finish();
    expect(sends.map((send) => send.map((result) => ('chunk' in result ? result.chunk.seq : -1)))).toEqual([[0], [1], [2, 3]]);
    expect(posting.nextSeq).toBe(4);
  });
});
