// What the actors need from the daemon: the hub client, the providers by wire name, timings, the logger.
import type { Timing } from '../src/config/schema.ts';
import type { ProviderConfig } from '../src/config/schema.ts';
import type { HubClient } from '../src/hub-client.ts';
import type { Logger } from '../src/log.ts';
import type { AgentRow } from '../src/protocol/index.ts';
import type { LlmProvider } from '../src/providers/types.ts';

export interface PublishedProvider {
  wireName: string;
  config: ProviderConfig;
  provider: LlmProvider;
  /** For one model of a `model: "*"` provider: that provider's name in the config. */
  catalog?: string;
}

/** What the actors report beside their results; every hook is optional and runs at most once per task. */
export interface DaemonObserver {
  /** The first token of a streamed task arrived, `ms` after its frame did. */
  firstToken?(llmName: string, ms: number, taskId: string): void;
  /** The hub client moved to another of the hub's URLs (`hub.url` as a list). */
  hubUrl?(url: string): void;
  /** A streamed task's usage chunk said how many completion tokens it made. */
  tokens?(taskId: string, completionTokens: number): void;
}

export interface ActorDeps {
  hub: HubClient;
  /** Published providers by wire name. */
  providers: Map<string, PublishedProvider>;
  /** The providers of the config with `model: "*"`, by name: each lists its server's models (actors/list-models.ts). */
  catalogs: Map<string, ProviderConfig>;
  agents: AgentRow[];
  timing: Timing;
  logger: Logger;
  observer?: DaemonObserver;
}
