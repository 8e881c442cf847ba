// Scriptable model servers on 127.0.0.1 that speak the real upstream wires (OpenAI-compatible, Ollama native,
// Anthropic Messages), for every integration and fault test: a script says how the "model" behaves, and the server
// counts what it saw (requests, clients that went away, calls in flight, TCP connections). One file per dialect in
// model-server/; this is their one entry.
import { anthropicWire } from './model-server/anthropic.ts';
import { ollamaWire } from './model-server/ollama.ts';
import { openAiWire } from './model-server/openai.ts';
import { start } from './model-server/server.ts';
import type { ModelScript, ModelServer } from './model-server/wire.ts';

export { startRawServer, type RawServer } from './model-server/raw.ts';
export { echoReply, replyTokens, TEST_MODEL, testEmbedding, type ChatTurn, type ModelScript, type ModelServer, type ReceivedRequest } from './model-server/wire.ts';

/** An OpenAI-compatible server (vLLM, llama.cpp, LM Studio): GET /v1/models, GET /health, POST /v1/chat/completions. */
export function startOpenAiServer(script: ModelScript = {}, options: { port?: number } = {}): Promise<ModelServer> {
  return start(openAiWire, script, options.port ?? 0);
}

/** Ollama's native API: GET /api/version, POST /api/chat (NDJSON stream unless `stream: false`). */
export function startOllamaServer(script: ModelScript = {}, options: { port?: number } = {}): Promise<ModelServer> {
  return start(ollamaWire, script, options.port ?? 0);
}

/** Anthropic's Messages API: GET /v1/models, POST /v1/messages; refuses calls without x-api-key and anthropic-version. */
export function startAnthropicServer(script: ModelScript = {}, options: { port?: number } = {}): Promise<ModelServer> {
  return start(anthropicWire, script, options.port ?? 0);
}
