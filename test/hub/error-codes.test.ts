// The hub's own errors: one table of code, status and words, and every route answers with it in OpenAI's shape,
// `{ error: { message, type, code, param } }`, so a program matches on `code` and a person reads `message`.
import { describe, expect, it } from 'vitest';
import { HUB_ERRORS, hubError } from '../../src/hub/error-codes.ts';
import { paths, SESSION_HEADER } from '../../src/protocol/index.ts';
import { ALICE, BOB, hubHarness, provider } from './helpers.ts';

const harness = hubHarness();

describe('the table', () => {
  it('gives every code an error status and words', () => {
    for (const [code, spec] of Object.entries(HUB_ERRORS)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.status, code).toBeLessThan(600);
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
    expect(hubError('task_unknown', 't1')).toEqual({ code: 'task_unknown', status: 404, message: "task 't1' is unknown or expired" });
  });
});

describe('the routes', () => {
  it('answer with the code, its status and the OpenAI shape', async () => {
    const hub = await harness.start();
    const alice = harness.registrar(hub, ALICE);
    await alice.register([provider('llama')]);
    const bob = harness.client(hub, BOB);
    const cases: Array<[string, Promise<Response>, number]> = [
      ['invalid_api_key', fetch(`${hub.url}/v1/models`), 401],
      ['no_route', bob.get('/api/v1/nowhere'), 404],
      ['invalid_request', bob.post(paths.register, { providers: [] }), 400],
      ['name_taken', bob.post(paths.register, { providers: [provider('llama')] }), 409],
      ['session_unknown', bob.post(paths.heartbeat, { providerSessionId: 'nobody' }), 404],
      ['missing_session_header', bob.get(paths.stream), 400],
      ['task_unknown', bob.post(paths.result('t1'), { error: 'x' }, { [SESSION_HEADER]: alice.sessionId }), 404],
      ['llm_not_found', bob.get('/api/v1/llms/nothing'), 404],
      ['admin_only', bob.get('/metrics'), 403],
    ];
    for (const [code, answer, status] of cases) {
      const res = await answer;
      expect(res.status, code).toBe(status);
      expect(await res.json(), code).toEqual({ error: { message: expect.any(String), type: expect.any(String), code, param: null } });
    }
  });

  it('answer a call the hub refuses itself with the code, and the field at fault', async () => {
    const hub = await harness.start();
    const bob = harness.client(hub, BOB);
    const res = await bob.post('/v1/chat/completions', { model: 'nothing', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { message: "model 'nothing' not found", type: 'invalid_request_error', code: 'model_not_found', param: 'model' } });
  });
});
