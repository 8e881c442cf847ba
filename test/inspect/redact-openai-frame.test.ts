// The Stately inspector never sees a caller's `openai` call: its body goes whole, not only its messages.
import { describe, expect, it } from 'vitest';
import { redact } from '../../inspect/stately.ts';

describe('redact', () => {
  it("replaces an openai frame's body (prompt, input, tools) and keeps its routing fields", () => {
    const frame = { kind: 'openai', taskId: 't1', llmName: 'gpu', endpoint: 'embeddings', streaming: false, body: { input: 'secret text', prompt: 'secret prompt' } };
    const event = { type: 'stream.task', frame };
    expect(redact(event)).toEqual({ type: 'stream.task', frame: { ...frame, body: '[caller body]' } });
    expect(JSON.stringify(redact(event))).not.toContain('secret');
  });
});
