// The config file's JSON Schema, generated from the valibot schema: `llm-registrar schema` prints it for editors.
import { toJsonSchema } from '@valibot/to-json-schema';
import { Config } from './schema.ts';

export function configJsonSchema(): object {
  // Checks that JSON Schema cannot express (baseUrl required unless demo, unique wire names) are left to the loader.
  const schema = toJsonSchema(Config, { errorMode: 'ignore' }) as Record<string, unknown>;
  forbidUnknownKeys(schema);
  for (const [path, text] of Object.entries(DESCRIPTIONS)) describe(schema, path, text);
  const properties = schema.properties as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'llm-registrar config',
    ...schema,
    // A config file may name its schema, as editors expect: the loader accepts this one extra key.
    properties: { $schema: { type: 'string' }, ...properties },
  };
}

/**
 * What each key means, shown by editors on hover and completion: the config file is JSON, which has no comments.
 * Paths go through `properties` (dots) and array `items` (`[]`).
 */
const DESCRIPTIONS: Record<string, string> = {
  hub: 'The hub this registrar publishes its providers on.',
  'hub.url': 'The hub\'s address, e.g. http://hub.internal:4848, or a list of the addresses of one hub\'s replicas, used in order: the registrar moves to the next when one is unreachable, and back to the first when it answers again. LLM_REGISTRAR_HUB_URL (comma-separated for a list) overrides it.',
  'hub.token': 'Your bearer token on the hub (it maps to your user there). LLM_REGISTRAR_HUB_TOKEN overrides it.',
  providers: 'The model servers on this machine. Each one with "publish": true becomes a virtual LLM on the hub.',
  'providers[].name': 'The local name; also the name on the hub unless publishName is set. Letters, digits and . _ : - /',
  'providers[].type': 'The upstream\'s API: openai (any OpenAI-compatible server: vLLM, llama.cpp, LM Studio, …), ollama (native API), anthropic, or demo (built in).',
  'providers[].baseUrl': 'The upstream as its own clients write it: http://127.0.0.1:8000/v1 for openai, http://127.0.0.1:11434 for ollama. Not needed for demo.',
  'providers[].model': 'The model id sent upstream and shown to callers, e.g. Qwen/Qwen2.5-Coder-7B or llama3.2:3b; "*" publishes every model the server lists (Ollama /api/tags, else /v1/models), kept in sync.',
  'providers[].apiKey': 'The upstream\'s API key, if it wants one (never sent to the hub).',
  'providers[].publish': 'Publish this provider on the hub.',
  'providers[].publishName': 'The name on the hub, when it should differ from name. Names are unique hub-wide.',
  'providers[].poolName': 'Providers sharing a pool name stack: a call to the pool goes to any healthy member.',
  'providers[].tier': 'A hint for callers: fast or heavy.',
  'providers[].description': 'Shown to callers in the hub\'s lists.',
  'providers[].visibility': 'private: only you see and call it on the hub; public: everyone does.',
  'providers[].maxConcurrency': 'How many tasks run at once on this provider; the others wait in a queue, in arrival order.',
  'providers[].tokenDelayMs': 'Demo provider only: the pause between streamed words.',
  'providers[].wake': 'How to start the server when it sleeps: an HTTP call, or a command (run without a shell). Without it, a provider that does not answer is unavailable.',
  agents: 'Named system prompts and defaults on top of a published LLM, callable as models.',
  'agents[].name': 'The name callers use as "model" to call this agent.',
  'agents[].llmName': 'The LLM it runs on: one of the published providers (by its name on the hub) or a public LLM there.',
  'agents[].description': 'Shown to callers in the hub\'s lists.',
  'agents[].systemPrompt': 'Put first in every conversation sent to this agent.',
  'agents[].project': 'A free-form project name, shown in the hub\'s lists.',
  'agents[].defaultParams': 'Request fields (temperature, max_tokens, …) filled in when a call leaves them unset.',
  'agents[].extras': 'Free-form data kept with the agent on the hub.',
  'agents[].visibility': 'private: only you see and call it; public: everyone does.',
  timing: 'Every delay, in milliseconds; the defaults are those of the spec.',
  'timing.heartbeatMs': 'How often the registrar tells the hub it is alive.',
  'timing.backoffBaseMs': 'The first retry delay after a failed register or a lost stream; it doubles each time, up to backoffCapMs.',
  'timing.backoffCapMs': 'The longest retry delay.',
  'timing.wakePollStartMs': 'A wake polls readiness at once, then this far apart, then doubling the gap up to wakePollMs.',
  'timing.wakePollMs': 'The longest gap between readiness polls of a waking provider.',
  'timing.wakeHttpTimeoutMs': 'How long an http wake recipe may take to answer.',
  'timing.resultDeadlineMs': 'How long a result POST is retried before it is given up (and logged).',
  'timing.streamIdleMs': 'Silence on the task stream for this long means it is dead: reconnect.',
  'timing.drainMs': 'On SIGTERM, how long running tasks get to finish.',
  'timing.forceGraceMs': 'After the drain deadline, how long the error answers of the tasks left may take before the daemon stops anyway.',
  'timing.wakeKillGraceMs': 'A wake command given up on gets SIGTERM, then SIGKILL this much later.',
  'timing.reprobeMs': 'The first delay before an unavailable provider is probed again; it doubles each time, up to reprobeCapMs.',
  'timing.reprobeCapMs': 'The longest delay between probes of an unavailable provider.',
  'timing.modelSyncMs': 'How often a provider with "model": "*" lists its server\'s models, so rows follow models pulled and removed.',
  'timing.leaveMs': 'How long a draining registrar waits for the hub to take its leave.',
  'timing.requestTimeoutMs': 'Timeout of each call to the hub (register, heartbeat, result).',
  'timing.upstreamIdleMs': 'Upstream silence tolerated in the middle of a stream before the task fails.',
  'timing.hubFailbackMs': 'With several hub URLs: while a later one is in use, the first is tried again this often (one GET /healthz), and used again once it answers.',
  'timing.chunkCoalesceMs': 'Tokens of a stream after its first are gathered this long into one chunk: fewer POSTs and writes, each token at most this much later.',
  stateDir: 'Where the session id and the tasks in flight are kept (default: $XDG_STATE_HOME/llm-registrar).',
  status: 'The status server of `start`: a live page, /status JSON, /events SSE and /metrics for Prometheus.',
  'status.port': 'Its port (default 4849; 0 picks a free one). --status-port overrides it.',
  'status.host': 'Its address (default 127.0.0.1, this machine only).',
  'status.enabled': 'Serve it at all. --no-status turns it off too.',
};

function describe(schema: Record<string, unknown>, path: string, text: string): void {
  let node: Record<string, unknown> | undefined = schema;
  for (const part of path.split('.')) {
    const isArray = part.endsWith('[]');
    node = (node?.properties as Record<string, Record<string, unknown>> | undefined)?.[isArray ? part.slice(0, -2) : part];
    if (isArray) node = node?.items as Record<string, unknown> | undefined;
  }
  if (node) node.description = text;
}

/** The loader refuses keys the schema does not name (a typo would otherwise be ignored): say the same to editors. */
function forbidUnknownKeys(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(forbidUnknownKeys);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  if (record.type === 'object' && typeof record.properties === 'object' && record.additionalProperties === undefined) {
    record.additionalProperties = false;
  }
  Object.values(record).forEach(forbidUnknownKeys);
}
