// A catalog's listing (machines/catalog.ts): what models its server has now, each made a published provider of its
// own (the config of the `model: "*"` provider with that model) so that the other actors find it by wire name.
import { fromPromise } from 'xstate';
import type { ListModelsInput } from '../machines/catalog.ts';
import type { ProviderConfig } from '../src/config/schema.ts';
import { listServerModels, modelWireName } from '../src/model-names.ts';
import { createProvider } from '../src/providers/index.ts';
import type { ActorDeps } from './deps.ts';

/** How long a listing may take: a server that does not answer in this time is left as it was. */
const LIST_TIMEOUT_MS = 5_000;

/**
 * Lists the source's server and brings `deps.providers` in line: a provider for every model it lists (unless its
 * wire name is taken by another provider), none for those it no longer lists. Returns the source's wire names, or
 * undefined when the server could not be listed.
 */
export async function syncCatalog(deps: Pick<ActorDeps, 'providers' | 'timing' | 'logger'>, source: ProviderConfig, signal?: AbortSignal): Promise<string[] | undefined> {
  const ids = await listServerModels(source, Math.min(LIST_TIMEOUT_MS, deps.timing.requestTimeoutMs), signal);
  if (ids === undefined) return undefined;
  const mine = (name: string) => deps.providers.get(name)?.catalog === source.name;
  const names: string[] = [];
  for (const id of ids) {
    const wireName = modelWireName(id, source.publishName);
    if (wireName === undefined || names.includes(wireName)) continue;
    const holder = deps.providers.get(wireName);
    if (holder && !mine(wireName)) {
      deps.logger.warn({ provider: source.name, model: id, name: wireName }, `model '${id}' is not published: '${wireName}' is the name of another provider`);
      continue;
    }
    names.push(wireName);
    if (holder && holder.config.model === id) continue;
    const config: ProviderConfig = { ...source, name: wireName, model: id, publishName: undefined };
    deps.providers.set(wireName, { wireName, config, catalog: source.name, provider: createProvider(config, { upstreamIdleMs: deps.timing.upstreamIdleMs }) });
  }
  for (const name of [...deps.providers.keys()]) if (mine(name) && !names.includes(name)) deps.providers.delete(name);
  return names;
}

export function listModelsActor(deps: Pick<ActorDeps, 'providers' | 'catalogs' | 'timing' | 'logger'>) {
  return fromPromise<string[] | undefined, ListModelsInput>(async ({ input, signal }) => {
    const source = deps.catalogs.get(input.source);
    return source ? syncCatalog(deps, source, signal) : undefined;
  });
}
