// The registrar's config file (SPEC.md, "Config"), as a valibot schema with the defaults applied on parse.
import * as v from 'valibot';
import { AgentRow, Tier, Visibility, WireName } from '../protocol/index.ts';

const HttpUrl = v.pipe(v.string(), v.url(), v.check((url) => /^https?:\/\//i.test(url), 'Invalid URL: must start with http:// or https://'));
const Ms = v.pipe(v.number(), v.integer(), v.minValue(1));

export const WakeRecipe = v.variant('type', [
  v.object({
    type: v.literal('http'),
    url: HttpUrl,
    method: v.optional(v.picklist(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']), 'POST'),
    headers: v.optional(v.record(v.string(), v.string())),
    body: v.optional(v.unknown()),
    maxWaitSeconds: v.optional(v.pipe(v.number(), v.minValue(0)), 60),
  }),
  v.object({
    type: v.literal('command'),
    command: v.pipe(v.string(), v.minLength(1)),
    args: v.optional(v.array(v.string()), []),
    maxWaitSeconds: v.optional(v.pipe(v.number(), v.minValue(0)), 60),
  }),
]);
export type WakeRecipe = v.InferOutput<typeof WakeRecipe>;

export const PROVIDER_TYPES = ['openai', 'ollama', 'anthropic', 'demo'] as const;

/**
 * Names people write for servers that speak the OpenAI API: the loader reads them as `openai` and says so, rather than
 * refusing a config for calling vLLM by its name.
 */
export const TYPE_ALIASES: Readonly<Record<string, (typeof PROVIDER_TYPES)[number]>> = {
  vllm: 'openai',
  llamacpp: 'openai',
  'llama.cpp': 'openai',
  'llama-cpp': 'openai',
  'llama-server': 'openai',
  lmstudio: 'openai',
  'lm-studio': 'openai',
  sglang: 'openai',
};

export const ProviderConfig = v.pipe(
  v.object({
    name: WireName,
    type: v.picklist(PROVIDER_TYPES),
    baseUrl: v.optional(HttpUrl),
    /** `*`: every model the server lists, each published as a row of its own and kept in sync (modelSyncMs). */
    model: v.pipe(v.string(), v.minLength(1)),
    apiKey: v.optional(v.string()),
    publish: v.optional(v.boolean(), true),
    publishName: v.optional(WireName),
    poolName: v.optional(WireName),
    tier: v.optional(Tier),
    description: v.optional(v.string()),
    visibility: v.optional(Visibility, 'private'),
    maxConcurrency: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)), 4),
    /** Demo provider only: delay between streamed tokens. */
    tokenDelayMs: v.optional(v.pipe(v.number(), v.minValue(0))),
    wake: v.optional(WakeRecipe),
  }),
  v.forward(
    v.check((provider) => provider.type === 'demo' || provider.baseUrl !== undefined, 'Invalid baseUrl: required for every provider but type "demo"'),
    ['baseUrl'],
  ),
);
export type ProviderConfig = v.InferOutput<typeof ProviderConfig>;

/** Every timing of the registrar, in milliseconds, with its default; the config's `timing` overrides any of them. */
export const Timing = v.object({
  /** How often the session heartbeats the hub. Default 30,000 ms. */
  heartbeatMs: v.optional(Ms, 30_000),
  /** Reconnect backoff of the session: backoffBaseMs × 2^attempt, at most backoffCapMs, jittered ½–1. Default 5,000 ms. */
  backoffBaseMs: v.optional(Ms, 5_000),
  /** The longest reconnect wait, and the wait after the hub refused us outright. Default 60,000 ms. */
  backoffCapMs: v.optional(Ms, 60_000),
  /** A wake polls readiness at once, then this far apart twice, then doubling up to wakePollMs: a cold start costs its load time. Default 100 ms. */
  wakePollStartMs: v.optional(Ms, 100),
  /** The longest wait between two readiness polls of a wake. Default 1,500 ms. */
  wakePollMs: v.optional(Ms, 1_500),
  /** Timeout of an http wake recipe's request. Default 30,000 ms. */
  wakeHttpTimeoutMs: v.optional(Ms, 30_000),
  /** A command wake recipe given up on gets SIGTERM, then SIGKILL this much later if it is still there. Default 2,000 ms. */
  wakeKillGraceMs: v.optional(Ms, 2_000),
  /** How long a task's result may take to reach the hub, retries included, before it is logged lost. Default 60,000 ms. */
  resultDeadlineMs: v.optional(Ms, 60_000),
  /** Task stream silence (no byte, no keep-alive) after which the stream is taken for dead and reopened. Default 45,000 ms. */
  streamIdleMs: v.optional(Ms, 45_000),
  /** On SIGTERM, how long running tasks may take to finish before the rest are answered with an error. Default 30,000 ms. */
  drainMs: v.optional(Ms, 30_000),
  /**
   * After the drain deadline, how long the error answers of the tasks still there may take before the daemon stops
   * anyway (at most resultDeadlineMs). Default 5,000 ms.
   */
  forceGraceMs: v.optional(Ms, 5_000),
  /** An unavailable provider is probed again after reprobeMs × 2^attempt, at most reprobeCapMs. Default 1,000 ms. */
  reprobeMs: v.optional(Ms, 1_000),
  /** The longest wait between two probes of an unavailable provider. Default 30,000 ms. */
  reprobeCapMs: v.optional(Ms, 30_000),
  /** How often a provider with `model: "*"` lists its server's models. Default 30,000 ms. */
  modelSyncMs: v.optional(Ms, 30_000),
  /** How long a draining registrar waits for the hub to take its leave. Default 2,000 ms. */
  leaveMs: v.optional(Ms, 2_000),
  /** Per-request timeout of the hub calls (register, heartbeat, result). Default 10,000 ms. */
  requestTimeoutMs: v.optional(Ms, 10_000),
  /** Upstream silence tolerated mid-stream before the task fails. Default 300,000 ms. */
  upstreamIdleMs: v.optional(Ms, 300_000),
  /** Tokens after a stream's first are gathered this long into one chunk (a POST, or a line of the upload). Default 10 ms. */
  chunkCoalesceMs: v.optional(Ms, 10),
  /** With several hub URLs: how often, while on a later one, the first is tried again. */
  hubFailbackMs: v.optional(Ms, 30_000),
});
export type Timing = v.InferOutput<typeof Timing>;

export const Config = v.pipe(
  v.object({
    hub: v.pipe(
      v.object({
        url: v.union([HttpUrl, v.pipe(v.array(HttpUrl), v.minLength(1, 'Invalid url: list at least one URL'))], 'Invalid url: expected a URL or a list of URLs (replicas of one hub)'),
        token: v.pipe(v.string(), v.minLength(1, 'Invalid token: must not be empty')),
      }),
      // `url` stays the first URL for everything that calls one hub (models, usage, status); the registrar's hub
      // client takes `urls`, replicas of one hub in the order it fails over in.
      v.transform(({ url, token }) => ({ url: [url].flat()[0] as string, urls: [url].flat(), token })),
    ),
    providers: v.optional(v.array(ProviderConfig), []),
    agents: v.optional(v.array(AgentRow), []),
    timing: v.optional(Timing, {}),
    stateDir: v.optional(v.string()),
    status: v.optional(
      v.object({
        port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), 4849),
        host: v.optional(v.string(), '127.0.0.1'),
        enabled: v.optional(v.boolean(), true),
      }),
      {},
    ),
  }),
  v.forward(
    v.check((config) => {
      const names = config.providers.filter((p) => p.publish).map((p) => p.publishName ?? p.name);
      return new Set(names).size === names.length;
    }, 'Invalid providers: two published providers share a wire name (name or publishName)'),
    ['providers'],
  ),
);
export type Config = v.InferOutput<typeof Config>;

/** The model value that publishes every model the provider's server lists. */
export const EVERY_MODEL = '*';

/** The name a provider is published under on the hub. */
export function wireName(provider: ProviderConfig): string {
  return provider.publishName ?? provider.name;
}
