// createProvider: one provider per config entry, of the kind its `type` names.
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ProviderConfig } from '../../src/config/schema.ts';
import { AnthropicProvider, createProvider, DemoProvider, OllamaProvider, OpenAiProvider } from '../../src/providers/index.ts';

const config = (fields: Record<string, unknown>): ProviderConfig => v.parse(ProviderConfig, { name: 'local', model: 'm', ...fields });

describe('createProvider', () => {
  it.each([
    ['openai', 'http://127.0.0.1:8000/v1', OpenAiProvider],
    ['ollama', 'http://127.0.0.1:11434', OllamaProvider],
    ['anthropic', 'https://api.anthropic.com', AnthropicProvider],
    ['demo', undefined, DemoProvider],
  ] as const)('builds a %s provider carrying the config name, type and model', (type, baseUrl, kind) => {
    const provider = createProvider(config({ type, baseUrl }));

    expect(provider).toBeInstanceOf(kind);
    expect({ name: provider.name, type: provider.type, model: provider.model }).toEqual({ name: 'local', type, model: 'm' });
  });

  it('refuses an upstream kind without baseUrl, naming the provider', () => {
    // The config schema refuses this file too; the provider must not guess an address if handed one anyway.
    const withoutUrl = { ...config({ type: 'openai', baseUrl: 'http://127.0.0.1:8000/v1' }), baseUrl: undefined };

    expect(() => createProvider(withoutUrl)).toThrow("provider 'local': baseUrl is required for type 'openai'");
  });
});
