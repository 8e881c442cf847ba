// Shape conversions and SSE framing: a completion as one chunk, chunks as one completion, multi-line data.
import { describe, expect, it } from 'vitest';
import { chunksAsCompletion, completionAsChunk } from '../../src/hub/envelopes.ts';
import { formatEvent } from '../../src/hub/sse.ts';
import { chunkData, completion } from './helpers.ts';

describe('envelopes', () => {
  it('turns a completion into one chunk carrying its content and finish reason', () => {
    expect(JSON.parse(completionAsChunk(completion('whole', 'llama-3'), 'fallback'))).toMatchObject({
      object: 'chat.completion.chunk',
      model: 'llama-3',
      choices: [{ index: 0, delta: { role: 'assistant', content: 'whole' }, finish_reason: 'stop' }],
    });
  });

  it('joins chunk deltas into one completion, skipping unreadable pieces', () => {
    expect(chunksAsCompletion([chunkData('a'), 'not json', chunkData('b', 'length')], 'fallback')).toMatchObject({
      object: 'chat.completion',
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ab' }, finish_reason: 'length' }],
    });
  });
});

describe('formatEvent', () => {
  it('writes one data line per line of data, and the event name first', () => {
    expect(formatEvent('{"a":1}', 'task')).toBe('event: task\ndata: {"a":1}\n\n');
    expect(formatEvent('one\ntwo\r\nthree')).toBe('data: one\ndata: two\ndata: three\n\n');
  });
});
