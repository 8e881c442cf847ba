// What a caller may see: GET /v1/models (OpenAI's list), /v1/models/{id}, /api/v1/llms, /api/v1/llms/:name,
// /api/v1/agents.
import type { FastifyInstance } from 'fastify';
import { viewerOf } from './auth.ts';
import { hubError } from './error-codes.ts';
import { replyError } from './errors.ts';
import type { Agent, LlmRow, Registry, Viewer } from './registry.ts';

export function catalogRoutes(app: FastifyInstance, options: { registry: Registry; now: () => number }): void {
  const { registry, now } = options;

  const describeLlm = (row: LlmRow, at: number) => ({
    name: row.name,
    type: row.type,
    model: row.model,
    tier: row.tier ?? null,
    description: row.description ?? null,
    poolName: row.poolName ?? null,
    status: registry.statusOf(row, at),
    owner: row.owner,
    visibility: row.visibility,
  });
  const describeAgent = (agent: Agent) => ({
    name: agent.name,
    llmName: agent.llmName,
    description: agent.description ?? null,
    systemPrompt: agent.systemPrompt ?? null,
    project: agent.project ?? null,
    defaultParams: agent.defaultParams ?? {},
    extras: agent.extras ?? {},
    owner: agent.owner,
    visibility: agent.visibility,
  });

  /** Every name the viewer may call, as OpenAI lists models: LLMs, then pools, then agents. */
  const visibleModels = (viewer: Viewer) => {
    const models = new Map<string, { id: string; object: 'model'; created: number; owned_by: string }>();
    const add = (id: string, registeredAt: number, owner: string): void => {
      if (!models.has(id)) models.set(id, { id, object: 'model', created: Math.floor(registeredAt / 1000), owned_by: owner });
    };
    const rows = registry.visibleRows(viewer);
    for (const row of rows) add(row.name, row.registeredAt, row.owner);
    for (const row of rows) if (row.poolName !== undefined) add(row.poolName, row.registeredAt, row.owner);
    for (const agent of registry.visibleAgents(viewer)) add(agent.name, agent.registeredAt, agent.owner);
    return models;
  };

  app.get('/v1/models', async (request) => ({ object: 'list', data: [...visibleModels(viewerOf(request)).values()] }));

  // A wildcard, as below: a model id may hold '/'.
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request, reply) => {
    const id = request.params['*'];
    const model = visibleModels(viewerOf(request)).get(id);
    return model ?? replyError(reply, { ...hubError('model_not_found', id), param: 'model' });
  });

  app.get('/api/v1/llms', async (request) => {
    const at = now();
    return registry.visibleRows(viewerOf(request)).map((row) => describeLlm(row, at));
  });

  // A wildcard, not `:name`: wire names may hold '/' (`meta-llama/Llama-3`), encoded as %2F or not.
  app.get<{ Params: { '*': string } }>('/api/v1/llms/*', async (request, reply) => {
    const name = request.params['*'];
    const row = registry.visibleRows(viewerOf(request)).find((r) => r.name === name);
    if (!row) return replyError(reply, hubError('llm_not_found', name));
    return describeLlm(row, now());
  });

  app.get('/api/v1/agents', async (request) => registry.visibleAgents(viewerOf(request)).map(describeAgent));
}
