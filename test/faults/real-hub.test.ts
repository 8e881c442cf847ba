// Faults between the registrar and the real hub, on the wire through a recording proxy. The hub killed and restarted
// (its memory lost) while the registrar is idle, while a task runs, and while a task streams: the registrar registers
// again under the same session id; the task the old hub handed out is answered to the new hub, which no longer knows
// it (404): the registrar stops its work there, nothing is posted twice. And results the hub took whose answers were
// lost: retried with the same seq, dropped by the hub, never doubled for the caller.
import { afterEach, describe, expect, it } from 'vitest';
import { chat, chatStream, eventually, hubGet, startCluster, type Cluster } from '../support/cluster.ts';
import { invariantViolations } from '../support/invariant.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';
import { guardProcess } from '../support/process-guard.ts';
import { captureLogs, FATAL, frameRecorder } from '../support/registrar.ts';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.ts';

guardProcess();

let cluster: Cluster | undefined;
let model: ModelServer | undefined;
let proxy: RecordingProxy | undefined;
let recorder: ReturnType<typeof frameRecorder>;
let logs: ReturnType<typeof captureLogs>;

afterEach(async () => {
  await cluster?.close();
  await proxy?.close();
  await model?.close();
  cluster = model = proxy = undefined;
  expect(logs.lines.filter((line) => line.level >= FATAL)).toEqual([]);
});

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

/** `baseWire`: the registrar is not told of `result.stream`, and posts each chunk (SPEC.md §4). */
async function setUp(tokenDelayMs: number, options: { baseWire?: boolean } = {}) {
  model = await startOpenAiServer({ reply: ([turn]) => (turn.content === 'long' ? words(30) : `You said: ${turn.content}`), tokenDelayMs });
  recorder = frameRecorder();
  logs = captureLogs();
  cluster = await startCluster({
    providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }],
    registrarHubUrl: async (hubUrl) => {
      proxy = await startRecordingProxy(hubUrl);
      proxy.baseWire = options.baseWire ?? false;
      return proxy.url;
    },
    inspect: recorder.inspect,
    logger: logs.logger,
  });
  await active(cluster);
  return cluster;
}

const active = (c: Cluster) => eventually(async () => expect((await hubGet(c.url, '/api/v1/llms/gpu')).json?.status).toBe('active'));
const sessionOf = (c: Cluster) => c.daemon.actor!.getSnapshot().context.sessionId;

async function check(text: Record<string, string>) {
  await eventually(() => expect(cluster!.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
  expect(invariantViolations({ received: recorder.received, results: proxy!.results, exempt: proxy!.gone(), text })).toEqual([]);
}

describe('hub restarted', () => {
  it('while idle: the registrar registers again under the same session id and serves', async () => {
    const c = await setUp(0);
    const before = sessionOf(c);
    await c.restartHub();
    await active(c);
    expect(sessionOf(c)).toBe(before);
    const { status, json } = await chat(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'after restart' }] });
    expect(status).toBe(200);
    expect(json.choices[0].message.content).toBe('You said: after restart');
    const [taskId] = recorder.received;
    await check({ [taskId]: 'You said: after restart' });
  });

  it('while a task runs: its caller is told, its result gets 404 from the new hub and is not retried, the next call works', async () => {
    const c = await setUp(20);
    const call = chat(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'long' }] });
    await eventually(() => expect(model!.requests).toHaveLength(1));
    await c.restartHub();
    const { status } = await call;
    expect(status).toBe(503);
    await eventually(() => expect(c.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
    const [first] = recorder.received;
    expect(proxy!.posts.filter((post) => post.taskId === first && post.status === 404)).toHaveLength(1);
    await active(c);
    const next = await chat(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'next' }] });
    expect(next.json.choices[0].message.content).toBe('You said: next');
    const second = [...recorder.received].find((id) => id !== first)!;
    await check({ [second]: 'You said: next' });
    expect(model!.requests).toHaveLength(2);
  });

  it('while a task streams: the caller gets an error then [DONE], the registrar stops at the 404 and aborts the upstream', async () => {
    const c = await setUp(15);
    let restarting: Promise<void> | undefined;
    const call = await chatStream(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'long' }] }, (data) => {
      if (data !== '[DONE]' && !data.includes('"error"')) restarting ??= c.restartHub();
    });
    await restarting;
    expect(call.events.at(-1)).toBe('[DONE]');
    expect(call.events.at(-2)).toMatch(/"error"/);
    await eventually(() => expect(model!.aborted).toBe(1));
    await eventually(() => expect(c.daemon.actor!.getSnapshot().context.inFlight.size).toBe(0));
    await active(c);
    const next = await chatStream(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'again' }] });
    expect(next.text).toBe('You said: again');
    const second = [...recorder.received].at(-1)!;
    await check({ [second]: 'You said: again' });
    expect(proxy!.gone().size).toBe(1);
  });
});

describe('answers of the hub lost', () => {
  it('retries streamed chunks the hub took but whose answer was lost; the hub drops the repeats and the caller gets the text once', async () => {
    const c = await setUp(3, { baseWire: true });
    let posts = 0;
    proxy!.loseAnswer = (post) => 'chunk' in post.body && ++posts % 2 === 0;
    const call = await chatStream(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'long' }] });
    expect(call.text).toBe(words(30));
    expect(call.events.at(-1)).toBe('[DONE]');
    const [taskId] = recorder.received;
    const repeated = proxy!.posts.filter((post) => post.taskId === taskId && post.status === 200).length - new Set(proxy!.posts.map((post) => JSON.stringify(post.body))).size;
    expect(repeated).toBeGreaterThan(0);
    await check({ [taskId]: words(30) });
  });

  it('retries a plain result the hub took but whose answer was lost, and stops at the 404 that follows', async () => {
    const c = await setUp(0);
    proxy!.loseAnswer = (post) => proxy!.posts.filter((other) => other.taskId === post.taskId).length === 1;
    const { json } = await chat(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'once' }] });
    expect(json.choices[0].message.content).toBe('You said: once');
    const [taskId] = recorder.received;
    await eventually(() => expect(proxy!.posts.map((post) => post.status)).toEqual([200, 404]));
    await check({ [taskId]: 'You said: once' });
  });
});

describe('a streamed upload broken (result.stream)', () => {
  it.each([0, 2, 5])('resumes after the seq the hub has when the upload breaks at line %i: the caller gets the text once, nothing lost', async (at) => {
    const c = await setUp(3);
    // The first upload breaks at line `at`, the one resuming it at its second line; the third finishes.
    proxy!.breakUpload = (_line, index) => (proxy!.uploads.length === 1 && index === at) || (proxy!.uploads.length === 2 && index === 1);
    const call = await chatStream(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'long' }] });
    expect(call.text).toBe(words(30));
    expect(call.events.at(-1)).toBe('[DONE]');
    const [taskId] = recorder.received;
    await check({ [taskId]: words(30) });
    expect(proxy!.uploads.map((upload) => upload.broken)).toEqual([true, true, false]);
    expect(proxy!.uploads.at(-1)?.status).toBe(200);
    // Each resumed upload starts after what the hub had: no line reached it twice (its dedupe had nothing to do).
    const seqs = proxy!.results.get(taskId)!.map((result) => ('chunk' in result ? result.chunk.seq : undefined));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    // No chunk POST on the way: every line went in an upload.
    expect(proxy!.posts.filter((post) => post.taskId === taskId)).toEqual([]);
  });

  it('sends each chunk once on an unbroken upload, and every chunk and the [DONE] in it', async () => {
    const c = await setUp(3);
    const call = await chatStream(c.url, { model: 'gpu', messages: [{ role: 'user', content: 'long' }] });
    expect(call.text).toBe(words(30));
    const [taskId] = recorder.received;
    await check({ [taskId]: words(30) });
    expect(proxy!.uploads).toEqual([{ taskId, broken: false, status: 200 }]);
    const seqs = proxy!.results.get(taskId)!.map((result) => ('chunk' in result ? result.chunk.seq : undefined));
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });
});
