// How the run-inference actor fails, against a real provider and a model server double on 127.0.0.1: as data of the
// error vocabulary (src/protocol/errors.ts), whose code the task machine branches on and whose message its caller
// reads, naming the model and never the server's address.
import { afterEach, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { createActor, toPromise } from 'xstate';
import type { ActorDeps } from '../../actors/deps.ts';
import { runInferenceActor } from '../../actors/run-inference.ts';
import type { RunTaskInput } from '../../machines/task.ts';
import { ProviderConfig, Timing } from '../../src/config/schema.ts';
import { HubClient } from '../../src/hub-client.ts';
import { silentLogger } from '../../src/log.ts';
import { TASK_ERROR } from '../../src/protocol/errors.ts';
import { createProvider } from '../../src/providers/index.ts';
import { startOpenAiServer, TEST_MODEL, type ModelServer } from '../support/model-server.ts';

const servers: ModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function depsFor(baseUrl: string): Pick<ActorDeps, 'hub' | 'providers' | 'timing' | 'logger'> {
  const config = v.parse(ProviderConfig, { name: 'local', type: 'openai', baseUrl, model: TEST_MODEL });
  return {
    // Never called: a plain call's result is the task machine's to post.
    hub: new HubClient({ url: 'http://127.0.0.1:1', token: 't', resultDeadlineMs: 1_000, requestTimeoutMs: 1_000 }),
    providers: new Map([['local', { wireName: 'local', config, provider: createProvider(config) }]]),
    timing: v.parse(Timing, {}),
    logger: silentLogger(),
  };
}

const infer = (taskId: string): RunTaskInput => ({
  frame: { kind: 'infer', taskId, llmName: 'local', streaming: false, request: { messages: [{ role: 'user', content: 'hi' }] } },
  receivedAt: Date.now(),
  sessionId: 's1',
});

function run(deps: ReturnType<typeof depsFor>, input: RunTaskInput) {
  return toPromise(createActor(runInferenceActor(deps), { input }).start());
}

describe('run-inference: a failed run as data', () => {
  it('says the upstream is unreachable, with nothing sent, naming the model and not the address', async () => {
    const server = await startOpenAiServer();
    const deps = depsFor(server.baseUrl);
    await server.close();
    const failure = await run(deps, infer('t1')).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: TASK_ERROR.upstreamUnreachable, nothingSent: true, message: expect.stringMatching(/^model 'local': /) });
    expect(JSON.stringify(failure)).not.toContain(`${server.port}`);
  });

  it("keeps an upstream's HTTP status (a refused apiKey is the provider's to act on)", async () => {
    const server = await startOpenAiServer({ failWith: 401 });
    servers.push(server);
    const failure = await run(depsFor(server.baseUrl), infer('t2')).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: TASK_ERROR.upstreamHttp, status: 401, nothingSent: true });
  });

  it("answers an `openai` frame the upstream refused with its status, as the caller's result", async () => {
    const server = await startOpenAiServer({ failWith: 400 });
    servers.push(server);
    const input: RunTaskInput = {
      frame: { kind: 'openai', taskId: 't3', llmName: 'local', endpoint: 'chat.completions', streaming: false, body: { model: 'local', messages: [] } },
      receivedAt: Date.now(),
      sessionId: 's1',
    };
    const output = await run(depsFor(server.baseUrl), input);
    expect(output.result).toMatchObject({ status: 400, error: expect.stringMatching(/^model 'local': /) });
  });
});
