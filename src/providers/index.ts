// One LlmProvider per configured upstream, picked by its `type`. Every provider honours the abort signal (the HTTP
// request is aborted and the call throws the signal's reason), fails a silent upstream after `upstreamIdleMs`, and
// ends a stream with one piece carrying the finish reason and the usage.
import type { ProviderConfig } from '../config/schema.ts';
import { AnthropicProvider } from './anthropic.ts';
import { DemoProvider } from './demo.ts';
import type { ProviderOptions } from './http.ts';
import { OllamaProvider } from './ollama.ts';
import { OpenAiProvider } from './openai.ts';
import type { LlmProvider } from './types.ts';

export type { Completion, LlmProvider, OpenAiCall, StreamPiece } from './types.ts';
export { UnsupportedField, UpstreamError } from './types.ts';
export type { ProviderOptions } from './http.ts';
export { DEFAULT_READINESS_TIMEOUT_MS, DEFAULT_UPSTREAM_IDLE_MS } from './http.ts';
export { AnthropicProvider, OllamaProvider, OpenAiProvider, DemoProvider };
export { DEFAULT_DEMO_TOKEN_DELAY_MS, demoReply } from './demo.ts';

export function createProvider(config: ProviderConfig, options: ProviderOptions = {}): LlmProvider {
  switch (config.type) {
    case 'openai':
      return new OpenAiProvider(config, options);
    case 'ollama':
      return new OllamaProvider(config, options);
    case 'anthropic':
      return new AnthropicProvider(config, options);
    case 'demo':
      return new DemoProvider(config);
  }
}
