// The wire names of listed models (SPEC.md, `model: "*"`) and the starter config `init` writes from what it found.
import { describe, expect, it } from 'vitest';
import { starterProviders } from '../src/commands/init.ts';
import { cleanModelName, modelWireName } from '../src/model-names.ts';

describe('model wire names', () => {
  it.each([
    ['/models/Qwen-7B-Q4_K_M.gguf', 'Qwen-7B-Q4_K_M'],
    ['../model/tiny.gguf', 'tiny'],
    ['tiny.gguf', 'tiny'],
    ['C:\\models\\phi-3.safetensors', 'phi-3'],
    ['llama3.2:3b', 'llama3.2:3b'],
    ['Qwen/Qwen2.5-Coder-7B', 'Qwen/Qwen2.5-Coder-7B'],
    ['my model (v2)', 'my-model--v2-'],
    ['@@@', ''],
  ])('names %s %s', (id, name) => {
    expect(cleanModelName(id)).toBe(name);
  });

  it('puts a listed model under publishName, and names nothing that has no clean name', () => {
    expect(modelWireName('/models/x.gguf', 'box')).toBe('box/x');
    expect(modelWireName('llama3.2:3b')).toBe('llama3.2:3b');
    expect(modelWireName('///')).toBeUndefined();
    expect(modelWireName('a'.repeat(300), 'box')).toHaveLength(128);
  });
});

describe('init starter providers', () => {
  it('publishes a one-model server under its clean name, a several-model or loading one with "model": "*"', () => {
    expect(
      starterProviders([
        { kind: 'ollama', baseUrl: 'http://127.0.0.1:11434', type: 'ollama', models: ['llama3.2:3b', 'qwen2.5:7b'] },
        { kind: 'llama.cpp', baseUrl: 'http://127.0.0.1:8080/v1', type: 'openai', models: ['/models/tiny.gguf'] },
        { kind: 'llama.cpp', baseUrl: 'http://127.0.0.1:9931/v1', type: 'openai', models: [], loading: true },
      ]).map(({ name, model, publish }) => ({ name, model, publish })),
    ).toEqual([
      { name: 'ollama', model: '*', publish: true },
      { name: 'tiny', model: '/models/tiny.gguf', publish: true },
      { name: 'llama.cpp', model: '*', publish: true },
    ]);
  });
});
