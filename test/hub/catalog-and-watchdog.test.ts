// What callers may see (models, LLMs, agents, with status), and the watchdog turning silent sessions inactive.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../support/manual-clock.ts';
import { ADMIN, ALICE, BOB, errorMessage, hubHarness, provider } from './helpers.ts';

const harness = hubHarness();
const hello = [{ role: 'user', content: 'hi' }];

describe('catalog', () => {
  async function publish() {
    const hub = await harness.start();
    await harness.registrar(hub, ALICE).register(
      [provider('llama', { poolName: 'shared', tier: 'fast', description: 'Llama on the desk' }), provider('secret', { visibility: 'private' })],
      { agents: [{ name: 'helper', llmName: 'llama', systemPrompt: 'Be brief.', visibility: 'public' }, { name: 'diary', llmName: 'secret' }] },
    );
    return hub;
  }

  it('lists in /v1/models the LLMs, pools and agents the caller may see', async () => {
    const hub = await publish();
    const ids = async (token: string) =>
      ((await (await harness.client(hub, token).get('/v1/models')).json()) as { object: string; data: Array<{ id: string; object: string; owned_by: string }> }).data
        .map((model) => model.id)
        .sort();
    expect(await ids(BOB)).toEqual(['helper', 'llama', 'shared']);
    expect(await ids(ALICE)).toEqual(['diary', 'helper', 'llama', 'secret', 'shared']);
    expect(await ids(ADMIN)).toEqual(['diary', 'helper', 'llama', 'secret', 'shared']);
    const list = (await (await harness.client(hub, BOB).get('/v1/models')).json()) as { object: string; data: unknown[] };
    expect(list.object).toBe('list');
    expect(list.data[0]).toEqual({ id: expect.any(String), object: 'model', created: expect.any(Number), owned_by: 'alice' });
  });

  it('describes a visible LLM with its status, pool, owner and visibility, and answers 404 for a hidden one', async () => {
    const hub = await publish();
    const res = await harness.client(hub, BOB).get('/api/v1/llms/llama');
    expect(await res.json()).toEqual({
      name: 'llama',
      type: 'openai',
      model: 'model-of-llama',
      tier: 'fast',
      description: 'Llama on the desk',
      poolName: 'shared',
      status: 'active',
      owner: 'alice',
      visibility: 'public',
    });
    expect((await harness.client(hub, BOB).get('/api/v1/llms/secret')).status).toBe(404);
    expect((await harness.client(hub, ADMIN).get('/api/v1/llms/secret')).status).toBe(200);
  });

  it('finds an LLM whose name holds a slash, encoded or not', async () => {
    const hub = await harness.start();
    await harness.registrar(hub).register([provider('meta-llama/Llama-3')]);
    for (const path of ['/api/v1/llms/meta-llama/Llama-3', '/api/v1/llms/meta-llama%2FLlama-3']) {
      const res = await harness.client(hub, BOB).get(path);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { name: string }).name).toBe('meta-llama/Llama-3');
    }
  });

  it('lists the visible agents', async () => {
    const hub = await publish();
    const agents = (await (await harness.client(hub, BOB).get('/api/v1/agents')).json()) as Array<Record<string, unknown>>;
    expect(agents).toEqual([expect.objectContaining({ name: 'helper', llmName: 'llama', systemPrompt: 'Be brief.', owner: 'alice', visibility: 'public' })]);
  });
});

describe('watchdog', () => {
  it('shows the rows of a silent session as inactive, fails its waiting calls and refuses new ones with 503', async () => {
    const clock = new ManualClock();
    const hub = await harness.start({ watchdogMs: 300, clock });
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama')]);
    const stream = await registrar.stream();
    const api = harness.client(hub, ALICE);
    const status = async () => ((await (await api.get('/api/v1/llms/llama')).json()) as { status: string }).status;

    let settled = false;
    const waiting = api.post('/v1/chat/completions', { model: 'llama', messages: hello }).finally(() => (settled = true));
    await stream.nextTask();
    await clock.advance(200);
    expect((await registrar.heartbeat()).status).toBe(200);
    await clock.advance(299);
    expect(await status()).toBe('active');
    expect(settled).toBe(false);

    await clock.advance(1);
    const lost = await waiting;
    expect(lost.status).toBe(503);
    expect(await errorMessage(lost)).toMatch(/stopped answering/);
    expect(await status()).toBe('inactive');

    const refused = await api.post('/v1/chat/completions', { model: 'llama', messages: hello });
    expect(refused.status).toBe(503);
    expect(await errorMessage(refused)).toContain('llama: inactive');
  });

  it('brings the rows back to their last status on the next heartbeat', async () => {
    const clock = new ManualClock();
    const hub = await harness.start({ watchdogMs: 300, clock });
    const registrar = harness.registrar(hub);
    await registrar.register([provider('llama', { initialStatus: 'hibernating' })]);
    const status = async () => ((await (await registrar.api.get('/api/v1/llms/llama')).json()) as { status: string }).status;
    await clock.advance(300);
    expect(await status()).toBe('inactive');
    expect((await registrar.heartbeat()).status).toBe(200);
    expect(await status()).toBe('hibernating');
  });

  it('keeps a session that heartbeats alive, and only that one', async () => {
    const clock = new ManualClock();
    const hub = await harness.start({ watchdogMs: 150, clock });
    const beating = harness.registrar(hub);
    await beating.register([provider('llama')]);
    const silent = harness.registrar(hub);
    await silent.register([provider('quiet')]);
    for (let i = 0; i < 6; i += 1) {
      await clock.advance(100);
      expect((await beating.heartbeat()).status).toBe(200);
    }
    const statusOf = async (name: string) => ((await (await beating.api.get(`/api/v1/llms/${name}`)).json()) as { status: string }).status;
    expect(await statusOf('llama')).toBe('active');
    expect(await statusOf('quiet')).toBe('inactive');
  });
});
