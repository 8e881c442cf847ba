// What the caller reads of an answer (src/hub/front/answer.ts): as said, but for `model`.
import { describe, expect, it } from 'vitest';
import { answerBody, answerChunk } from '../../src/hub/front/answer.ts';

const chunk = (fields: Record<string, unknown>) => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }], ...fields });

describe('answerChunk', () => {
  it("renames the upstream's model to the caller's, and leaves a chunk that already says it byte for byte", () => {
    expect(JSON.parse(answerChunk(chunk({}), 'llama', false) ?? '')).toEqual(JSON.parse(chunk({ model: 'llama' })));
    const named = chunk({ model: 'llama' });
    expect(answerChunk(named, 'llama', false)).toBe(named);
  });

  it('renames the top-level model even when a nested object has a model key equal to the caller’s name', () => {
    const nested = chunk({ model: 'up', extra: { model: 'llama' } });
    expect(JSON.parse(answerChunk(nested, 'llama', false) ?? '')).toMatchObject({ model: 'llama', extra: { model: 'llama' } });
  });

  it('drops the usage-only chunk unless the caller asked for it', () => {
    const usage = chunk({ model: 'llama', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
    expect(answerChunk(usage, 'llama', false)).toBeUndefined();
    expect(answerChunk(usage, 'llama', true)).toBe(usage);
  });

  it('passes data that is not a JSON object untouched', () => {
    for (const data of ['[DONE]', '{not json', '"text"']) expect(answerChunk(data, 'llama', false)).toBe(data);
  });
});

describe('answerBody', () => {
  it("keeps every field and their order, with the caller's model", () => {
    expect(Object.entries(answerBody({ id: 'a', model: 'up', data: [1] }, 'llama'))).toEqual([['id', 'a'], ['model', 'llama'], ['data', [1]]]);
  });
});
