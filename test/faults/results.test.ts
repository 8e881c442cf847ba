// Result POSTs that fail: 5xx or a reset connection for a while (retried with the same body and seq until the hub
// takes them, no text doubled), the hub taking a chunk and losing its answer, a 404 (the task is gone: work stops
// and the upstream request is aborted), and a hub that never takes the result (given up at the deadline, logged).
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer } from '../support/fault-stage.ts';
import { ERROR } from '../support/registrar.ts';
import type { Answer } from '../support/script-hub.ts';

const stage = faultStage();
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

/** Answers the first `count` result POSTs with `failure`, then 200. */
function failingFor(count: number, failure: Answer) {
  let left = count;
  return () => (left-- > 0 ? failure : 200);
}

describe('result POST failing for a while', () => {
  it.each([500, 503, 'reset'] as const)('retries a plain result answered %s with the same body until the hub takes it', async (failure) => {
    const { hub } = await stage.start({ hub: { result: failingFor(3, failure) } });
    hub.send(infer('t-plain', 'retry me'));
    await eventually(() => expect(hub.results.get('t-plain')).toHaveLength(1));
    const posts = hub.resultPosts.filter((post) => post.taskId === 't-plain');
    expect(posts).toHaveLength(4);
    expect(new Set(posts.map((post) => JSON.stringify(post.body))).size).toBe(1);
    stage.check({ 't-plain': 'You said: retry me' });
  });

  it.each([500, 'reset', 'take-and-reset'] as const)('retries streamed chunks answered %s with the same seq and body, and no text is doubled', async (failure) => {
    let posts = 0;
    const { hub, registrar } = await stage.start({
      hub: { result: () => (++posts % 3 === 0 ? failure : 200) },
      model: { reply: () => words(30), tokenDelayMs: 3 },
    });
    hub.send(infer('t-stream', 'go', true));
    await eventually(() => expect(hub.results.get('t-stream')?.at(-1)).toMatchObject({ chunk: { done: true } }));
    await eventually(() => expect(registrar.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
    const failed = hub.resultPosts.filter((post) => post.answer === failure);
    expect(failed.length).toBeGreaterThan(0);
    for (const post of failed) {
      const retried = hub.resultPosts.filter((other) => other !== post && JSON.stringify(other.body) === JSON.stringify(post.body));
      expect(retried.length).toBeGreaterThan(0);
    }
    stage.check({ 't-stream': words(30) });
  });
});

describe('chunk POSTs to a base hub that answers at once', () => {
  it('gathers the tokens that come within chunkCoalesceMs of a POST into the next one: the first at once, few POSTs, all the text', async () => {
    const { hub } = await stage.start({ model: { reply: () => words(60), tokenDelayMs: 1 }, timing: { chunkCoalesceMs: 40 } });
    hub.send(infer('t-fast', 'go', true));
    await eventually(() => expect(hub.results.get('t-fast')?.at(-1)).toMatchObject({ chunk: { done: true } }));
    const posts = hub.resultPosts.filter((post) => post.taskId === 't-fast');
    // 60 tokens ~1 ms apart: one POST per token without the window; with it, the first alone and then one per 40 ms.
    expect(posts.length).toBeGreaterThan(2);
    expect(posts.length).toBeLessThan(15);
    const first = posts[0].body as { chunk: { data: string } };
    expect(JSON.parse(first.chunk.data).choices[0].delta.content).toBe('w0');
    stage.check({ 't-fast': words(60) });
  });
});

describe('result POST answered 404', () => {
  it('stops a streaming task at the first 404: no more POSTs, and the upstream request is aborted', async () => {
    let chunks = 0;
    const { hub, model, registrar } = await stage.start({
      hub: { result: (taskId) => (taskId === 't-gone' && ++chunks >= 3 ? 404 : 200) },
      model: { reply: ([turn]) => (turn.content === 'go' ? words(40) : `You said: ${turn.content}`), tokenDelayMs: 20 },
    });
    hub.send(infer('t-gone', 'go', true));
    await eventually(() => expect(model.aborted).toBe(1));
    await eventually(() => expect(registrar.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
    const posts = hub.resultPosts.filter((post) => post.taskId === 't-gone');
    expect(posts.at(-1)?.answer).toBe(404);
    expect(posts.filter((post) => post.answer === 404)).toHaveLength(1);
    hub.send(infer('t-after', 'still here'));
    await eventually(() => expect(hub.results.get('t-after')).toHaveLength(1));
    stage.check({ 't-after': 'You said: still here' }, ['t-gone']);
  });

  it('aborts the upstream request at once on a 404, without waiting for the next token', async () => {
    let goneAt = 0;
    const { hub, model } = await stage.start({
      hub: { result: () => ((goneAt ||= Date.now()), 404) },
      model: { reply: () => words(5), tokenDelayMs: 250 },
    });
    hub.send(infer('t-gone', 'go', true));
    await eventually(() => expect(model.aborted).toBe(1));
    expect(Date.now() - goneAt).toBeLessThan(150);
    stage.check({}, ['t-gone']);
  });

  it('does not retry a plain result answered 404, and the daemon goes on', async () => {
    const { hub, registrar } = await stage.start({ hub: { result: (taskId) => (taskId === 't-gone' ? 404 : 200) } });
    hub.send(infer('t-gone', 'nobody waits'));
    await eventually(() => expect(hub.resultPosts).toHaveLength(1));
    await eventually(() => expect(registrar.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
    expect(hub.resultPosts.filter((post) => post.taskId === 't-gone')).toHaveLength(1);
    stage.check({}, ['t-gone']);
  });
});

describe('result POST never taken', () => {
  it('gives up at the result deadline, logs the loss, and serves the next task', async () => {
    const { hub, registrar } = await stage.start({
      hub: { result: (taskId) => (taskId === 't-lost' ? 503 : 200) },
      timing: { resultDeadlineMs: 300 },
    });
    hub.send(infer('t-lost', 'into the void'));
    await eventually(() => expect(registrar.logs.some((line) => line.level === ERROR && line.msg === 'task result lost' && line.taskId === 't-lost')).toBe(true));
    await eventually(() => expect(registrar.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
    hub.send(infer('t-next', 'next one'));
    await eventually(() => expect(hub.results.get('t-next')).toHaveLength(1));
    stage.check({ 't-next': 'You said: next one' }, ['t-lost']);
  });
});
