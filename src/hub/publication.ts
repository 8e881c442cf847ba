// What a register publishes, as one comparable value: how the hub tells that a retry publishes exactly what a session
// already does (a register whose answer was lost, sent again). The status a row starts in is not part of it: a
// provider may have woken or slept between the two attempts.
import type { AgentRow, ProviderRow } from '../protocol/index.ts';

type Published = Pick<ProviderRow, 'name' | 'type' | 'model' | 'tier' | 'description' | 'poolName' | 'visibility'>;
type PublishedAgent = Omit<AgentRow, 'visibility'> & { visibility: AgentRow['visibility'] };

export function publicationKey(rows: readonly Published[], agents: readonly PublishedAgent[]): string {
  const rowKeys = rows.map((row) => JSON.stringify([row.name, row.type, row.model, row.tier, row.description, row.poolName, row.visibility]));
  const agentKeys = agents.map((agent) =>
    JSON.stringify([agent.name, agent.llmName, agent.description, agent.systemPrompt, agent.project, agent.defaultParams, agent.extras, agent.visibility]),
  );
  return JSON.stringify([rowKeys.sort(), agentKeys.sort()]);
}
