// The local model server failing: refusing connections, hanging, failing or closing mid-stream, going down while
// active and coming back; and more tasks than it may run at once. Every task still gets exactly one final result
// that says what went wrong, and what the model streamed before it failed reaches the hub whole.
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/cluster.ts';
import { faultStage, infer } from '../support/fault-stage.ts';
import { finalError } from '../support/invariant.ts';
import { replyTokens } from '../support/model-server.ts';

const stage = faultStage();
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
const firstTokens = (text: string, n: number) => replyTokens(text).slice(0, n).join('');
const providerState = (stage: { registrar: { daemon: { actor?: { getSnapshot(): any } } } }) =>
  stage.registrar.daemon.actor!.getSnapshot().children['provider:gpu'].getSnapshot().value;

describe('model server unreachable', () => {
  it('answers with an error naming the upstream when it refuses connections, and serves again once it is back', async () => {
    const s = await stage.start({ timing: { reprobeMs: 50 } });
    await eventually(() => expect(providerState(s)).toBe('active'));
    await s.model.stop();
    s.hub.send(infer('t-refused', 'anyone?'));
    s.hub.send(infer('t-refused-stream', 'anyone?', true));
    await eventually(() => expect(finalError(s.hub.results.get('t-refused'))).toBeDefined());
    await eventually(() => expect(finalError(s.hub.results.get('t-refused-stream'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-refused'))).toMatch(new RegExp(`ECONNREFUSED|${s.model.port}`));
    await eventually(() => expect(providerState(s)).toBe('unavailable'));
    await s.model.restart();
    await eventually(() => expect(providerState(s)).toBe('active'));
    s.hub.send(infer('t-back', 'back again', true));
    await eventually(() => expect(s.hub.results.get('t-back')?.at(-1)).toMatchObject({ chunk: { done: true } }));
    stage.check({ 't-back': 'You said: back again', 't-refused-stream': '' });
  });

  it('fails a task whose upstream hangs after upstreamIdleMs, saying so', async () => {
    const s = await stage.start({ model: { hang: true }, timing: { upstreamIdleMs: 150 } });
    s.hub.send(infer('t-hang', 'hello?'));
    s.hub.send(infer('t-hang-stream', 'hello?', true));
    await eventually(() => expect(finalError(s.hub.results.get('t-hang'))).toMatch(/silent for 150 ms/));
    await eventually(() => expect(finalError(s.hub.results.get('t-hang-stream'))).toMatch(/silent for 150 ms/));
    await eventually(() => expect(s.model.inFlight).toBe(0));
    stage.check({ 't-hang-stream': '' });
  });
});

describe('model server failing mid-answer', () => {
  it.each([
    ['reports an error inside the stream', { errorMidStreamAfter: 6 }],
    ['closes the connection', { closeMidStreamAfter: 6 }],
  ] as const)('relays every token it streamed, then an error, when it %s', async (_how, failure) => {
    const s = await stage.start({ model: { reply: () => words(20), tokenDelayMs: 2, ...failure } });
    s.hub.send(infer('t-mid', 'go', true));
    await eventually(() => expect(finalError(s.hub.results.get('t-mid'))).toBeDefined());
    expect(finalError(s.hub.results.get('t-mid'))).toMatch(/scripted failure mid-stream|lost mid-answer|ended early|other side closed|terminated/);
    stage.check({ 't-mid': firstTokens(words(20), 6) });
  });

  it('relays the tokens that were waiting on a slow chunk POST when the model fails', async () => {
    const s = await stage.start({
      hub: { result: () => ({ delayMs: 60, then: 200 }) },
      model: { reply: () => words(30), tokenDelayMs: 5, errorMidStreamAfter: 25 },
    });
    s.hub.send(infer('t-pending', 'go', true));
    await eventually(() => expect(finalError(s.hub.results.get('t-pending'))).toBeDefined());
    stage.check({ 't-pending': firstTokens(words(30), 25) });
  });

  it('answers a plain call failed with 500 with the upstream message', async () => {
    const s = await stage.start({ model: { failWith: 500 } });
    s.hub.send(infer('t-500', 'go'));
    await eventually(() => expect(finalError(s.hub.results.get('t-500'))).toBe("model 'gpu': upstream answered 500: scripted failure"));
    stage.check();
  });
});

describe('provider down while active', () => {
  it('fails the running task, answers the ones that come while it is down, and serves again when it is back', async () => {
    const s = await stage.start({ model: { reply: () => words(40), tokenDelayMs: 10 }, timing: { reprobeMs: 50 } });
    await eventually(() => expect(providerState(s)).toBe('active'));
    s.hub.send(infer('t-running', 'go', true));
    await eventually(() => expect(s.hub.results.get('t-running')?.length ?? 0).toBeGreaterThan(1));
    await s.model.stop();
    await eventually(() => expect(finalError(s.hub.results.get('t-running'))).toBeDefined());
    s.hub.send(infer('t-down', 'go'));
    await eventually(() => expect(finalError(s.hub.results.get('t-down'))).toMatch(/not reachable|ECONNREFUSED|cannot reach/));
    await s.model.restart();
    await eventually(() => expect(providerState(s)).toBe('active'));
    s.hub.send(infer('t-up', 'go'));
    await eventually(() => expect(s.hub.results.get('t-up')).toHaveLength(1));
    stage.check({ 't-up': words(40) });
  });
});

describe('more tasks than maxConcurrency', () => {
  it('runs at most maxConcurrency at once, starts them in arrival order, and answers all', async () => {
    const s = await stage.start({ provider: { maxConcurrency: 3 }, model: { tokenDelayMs: 4, reply: (turns) => `answer to ${turns[0].content}` } });
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, s.model.inFlight)), 1);
    stage.cleanup(() => clearInterval(sampler));
    const ids = Array.from({ length: 40 }, (_, i) => `t-${String(i).padStart(2, '0')}`);
    for (const [i, id] of ids.entries()) s.hub.send(infer(id, `n${i}`, i % 2 === 0));
    await eventually(() => expect(ids.every((id) => s.hub.results.get(id)?.some((r) => !('chunk' in r) || r.chunk.done))).toBe(true), 10_000);
    const started = s.model.requests.map((request) => (request.body as { messages: { content: string }[] }).messages[0].content);
    expect(started).toEqual(ids.map((_, i) => `n${i}`));
    expect(s.model.requests).toHaveLength(40);
    expect(most).toBe(3);
    stage.check(Object.fromEntries(ids.map((id, i) => [id, `answer to n${i}`])));
  });
});
