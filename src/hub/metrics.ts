// The hub's Prometheus metrics (prom-client, on a registry of its own), behind the admin token at GET /metrics: one
// update per finished call, nothing per chunk; open streams and callers are read when scraped.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { UsageEntry } from './usage.ts';

const SECONDS_CALL = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const SECONDS_FIRST_TOKEN = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Distinct `model` label values; a caller may ask for any name, so the rest share one series. */
const MAX_MODEL_LABELS = 512;
const OTHER_MODELS = '(other)';

export interface HubMetricsSources {
  /** Registrars' task streams open on this hub. */
  streams(): number;
  /** Calls in flight on this hub. */
  callers(): number;
}

export class HubMetrics {
  readonly registry = new Registry();
  readonly #models = new Set<string>();
  readonly #calls: Counter<'model' | 'outcome'>;
  readonly #tokens: Counter<'model' | 'direction'>;
  readonly #duration: Histogram<'model'>;
  readonly #firstToken: Histogram<'model'>;

  constructor(sources: HubMetricsSources) {
    const registers = [this.registry];
    this.#calls = new Counter({ name: 'llm_hub_calls_total', help: "Finished calls, by model as asked and outcome ('ok' or the HTTP status)", labelNames: ['model', 'outcome'], registers });
    this.#tokens = new Counter({ name: 'llm_hub_tokens_total', help: 'Tokens of finished calls (reported by the model server, else estimated), by direction (in, out)', labelNames: ['model', 'direction'], registers });
    this.#duration = new Histogram({ name: 'llm_hub_call_duration_seconds', help: 'From the call being dispatched to its end', labelNames: ['model'], buckets: SECONDS_CALL, registers });
    this.#firstToken = new Histogram({ name: 'llm_hub_time_to_first_token_seconds', help: 'Streamed calls: from dispatch to the first chunk', labelNames: ['model'], buckets: SECONDS_FIRST_TOKEN, registers });
    new Gauge({ name: 'llm_hub_registrar_streams', help: "Registrars' task streams open on this hub", registers, collect() { this.set(sources.streams()); } });
    new Gauge({ name: 'llm_hub_callers', help: 'Calls in flight on this hub', registers, collect() { this.set(sources.callers()); } });
  }

  observe(entry: UsageEntry): void {
    const model = this.#modelLabel(entry.model);
    this.#calls.inc({ model, outcome: entry.outcome });
    this.#tokens.inc({ model, direction: 'in' }, entry.tokensIn);
    this.#tokens.inc({ model, direction: 'out' }, entry.tokensOut);
    this.#duration.observe({ model }, entry.durationMs / 1000);
    if (entry.ttftMs !== undefined) this.#firstToken.observe({ model }, entry.ttftMs / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #modelLabel(model: string): string {
    if (this.#models.has(model)) return model;
    if (this.#models.size >= MAX_MODEL_LABELS) return OTHER_MODELS;
    this.#models.add(model);
    return model;
  }
}
