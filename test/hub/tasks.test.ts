// The task table on its own: delivery, re-delivery on a new stream, seq dedupe, cancel, failing a session.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TaskFrame } from '../../src/protocol/index.ts';
import { TaskTable, type TaskEnd } from '../../src/hub/tasks.ts';

function recorder() {
  const chunks: string[] = [];
  const ends: TaskEnd[] = [];
  return { chunks, ends, listener: { chunk: (data: string) => chunks.push(data), end: (end: TaskEnd) => ends.push(end) } };
}

function sink() {
  const frames: TaskFrame[] = [];
  let ended = false;
  return { frames, get ended() { return ended; }, send: (frame: TaskFrame) => frames.push(frame), end: () => { ended = true; } };
}

const order = { kind: 'infer' as const, llmName: 'llama', streaming: true, request: { messages: [{ role: 'user' as const, content: 'hi' }] } };

describe('TaskTable', () => {
  it('sends a task on the open stream, and again on the next stream until it has a final result', () => {
    const tasks = new TaskTable();
    const first = sink();
    tasks.attachStream('s1', first);
    const taskId = tasks.create('s1', order, recorder().listener);
    expect(first.frames).toEqual([{ ...order, taskId }]);

    const second = sink();
    tasks.attachStream('s1', second);
    expect(first.ended).toBe(true);
    expect(second.frames).toEqual([{ ...order, taskId }]);

    tasks.accept(taskId, { error: 'boom' });
    const third = sink();
    tasks.attachStream('s1', third);
    expect(third.frames).toEqual([]);
  });

  it('drops a chunk whose seq it already took, keeps chunks without seq in arrival order, and ends on done', () => {
    const tasks = new TaskTable();
    const record = recorder();
    const taskId = tasks.create('s1', order, record.listener);
    expect(tasks.accept(taskId, { chunk: { data: 'a', seq: 0 } })).toBe(true);
    expect(tasks.accept(taskId, { chunk: { data: 'a', seq: 0 } })).toBe(true);
    expect(tasks.accept(taskId, { chunk: { data: 'b' } })).toBe(true);
    expect(tasks.accept(taskId, { chunk: { data: 'b' } })).toBe(true);
    expect(tasks.accept(taskId, { chunk: { data: '[DONE]', done: true } })).toBe(true);
    expect(record.chunks).toEqual(['a', 'b', 'b']);
    expect(record.ends).toEqual([{ kind: 'done' }]);
    expect(tasks.accept(taskId, { chunk: { data: 'late' } })).toBe(false);
  });

  it('sends a cancel frame for a dropped task and forgets it', () => {
    const tasks = new TaskTable();
    const stream = sink();
    tasks.attachStream('s1', stream);
    const record = recorder();
    const taskId = tasks.create('s1', order, record.listener);
    tasks.drop(taskId, { cancel: true });
    expect(stream.frames.at(-1)).toEqual({ kind: 'cancel', taskId });
    expect(tasks.accept(taskId, { status: 200, body: {} })).toBe(false);
    expect(record.ends).toEqual([]);
  });

  it("fails the pending tasks of one session only", () => {
    const tasks = new TaskTable();
    const lost = recorder();
    const alive = recorder();
    tasks.create('s1', order, lost.listener);
    tasks.create('s2', order, alive.listener);
    expect(tasks.failSession('s1', 'gone')).toBe(1);
    expect(lost.ends).toEqual([{ kind: 'failed', message: 'gone' }]);
    expect(alive.ends).toEqual([]);
    expect(tasks.pendingCount).toBe(1);
  });

  it('carries an upstream error\'s status and fields to the task\'s end', () => {
    const tasks = new TaskTable();
    const record = recorder();
    const taskId = tasks.create('s1', order, record.listener);
    tasks.accept(taskId, { error: 'bad tool_call_id', status: 400, type: 'invalid_request_error', code: null, param: 'messages' });
    expect(record.ends).toEqual([{ kind: 'error', message: 'bad tool_call_id', upstream: { status: 400, type: 'invalid_request_error', code: null, param: 'messages' } }]);
  });
});

describe('TaskTable: the stream as the pulse of a session', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const GRACE = 1_000;
  const gone = { kind: 'failed', message: `its registrar has had no task stream open for ${GRACE} ms` };

  it('fails the tasks of a session whose stream dropped and did not come back within the grace, sent or not', () => {
    vi.useFakeTimers();
    const tasks = new TaskTable({ streamGraceMs: GRACE });
    const stream = sink();
    tasks.attachStream('s1', stream);
    const sent = recorder();
    tasks.create('s1', order, sent.listener);
    tasks.detachStream('s1', stream);
    vi.advanceTimersByTime(600);
    const waiting = recorder();
    tasks.create('s1', order, waiting.listener);
    vi.advanceTimersByTime(399);
    expect([sent.ends, waiting.ends]).toEqual([[], []]);
    vi.advanceTimersByTime(1);
    expect([sent.ends, waiting.ends]).toEqual([[gone], [gone]]);

    // Gone longer than the grace: a new task fails at once rather than waiting it out again.
    const late = recorder();
    tasks.create('s1', order, late.listener);
    vi.advanceTimersByTime(0);
    expect(late.ends).toEqual([gone]);
  });

  it('keeps the tasks of a session whose stream comes back within the grace, and sends them again', () => {
    vi.useFakeTimers();
    const tasks = new TaskTable({ streamGraceMs: GRACE });
    const first = sink();
    tasks.attachStream('s1', first);
    const record = recorder();
    const taskId = tasks.create('s1', order, record.listener);
    tasks.detachStream('s1', first);
    vi.advanceTimersByTime(900);
    const second = sink();
    tasks.attachStream('s1', second);
    vi.advanceTimersByTime(5 * GRACE);
    expect(record.ends).toEqual([]);
    expect(second.frames).toEqual([{ ...order, taskId }]);
  });

  it('counts the grace of a session that never opened a stream from its first task', () => {
    vi.useFakeTimers();
    const tasks = new TaskTable({ streamGraceMs: GRACE });
    const record = recorder();
    tasks.create('fresh', order, record.listener);
    vi.advanceTimersByTime(GRACE - 1);
    expect(record.ends).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(record.ends).toEqual([gone]);
  });

  it('fails what waits on a session that left at once, and what comes for it until it streams again', () => {
    vi.useFakeTimers();
    const tasks = new TaskTable({ streamGraceMs: GRACE });
    const stream = sink();
    tasks.attachStream('s1', stream);
    const waiting = recorder();
    tasks.create('s1', order, waiting.listener);
    tasks.detachStream('s1', stream);
    tasks.sessionLeft('s1', 'its registrar left');
    expect(waiting.ends).toEqual([{ kind: 'failed', message: 'its registrar left' }]);
    const after = recorder();
    tasks.create('s1', order, after.listener);
    vi.advanceTimersByTime(0);
    expect(after.ends).toEqual([gone]);

    tasks.attachStream('s1', sink());
    const back = recorder();
    tasks.create('s1', order, back.listener);
    vi.advanceTimersByTime(5 * GRACE);
    expect(back.ends).toEqual([]);
  });
});
