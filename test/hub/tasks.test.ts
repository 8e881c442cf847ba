// The task table on its own: delivery, re-delivery on a new stream, seq dedupe, cancel, failing a session.
import { describe, expect, it } from 'vitest';
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
});
