// How the run-inference actor fails, against a real provider and a model server double on 127.0.0.1: as data of the
// error vocabulary (src/protocol/errors.ts), whose code the task machine branches on and whose message its caller
// reads, naming the model and never the server's address.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
const hubs: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  for (const hub of hubs.splice(0)) hub.close();
});

/** A hub that takes every result POST (SPEC.md §4) and keeps what it was sent. */
async function resultTaker() {
  const posted: { path: string; body: unknown }[] = [];
  const hub = createServer((request, response) => {
    let body = '';
    request.on('data', (data: Buffer) => (body += data));
    request.on('end', () => {
      posted.push({ path: request.url ?? '', body: JSON.parse(body) });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  hubs.push(hub);
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`, posted };
}

function depsFor(baseUrl: string, hubUrl = 'http://127.0.0.1:1'): Pick<ActorDeps, 'hub' | 'providers' | 'timing' | 'logger'> {
  const config = v.parse(ProviderConfig, { name: 'local', type: 'openai', baseUrl, model: TEST_MODEL });
  return {
    // A failed run posts nothing: its error is the task machine's to post.
    hub: new HubClient({ url: hubUrl, token: 't', resultDeadlineMs: 1_000, requestTimeoutMs: 1_000 }),
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

  it("answers an `openai` frame the upstream refused with its status, as the caller's result, which it posts", async () => {
    const server = await startOpenAiServer({ failWith: 400 });
    servers.push(server);
    const hub = await resultTaker();
    const input: RunTaskInput = {
      frame: { kind: 'openai', taskId: 't3', llmName: 'local', endpoint: 'chat.completions', streaming: false, body: { model: 'local', messages: [] } },
      receivedAt: Date.now(),
      sessionId: 's1',
    };
    const output = await run(depsFor(server.baseUrl, hub.url), input);
    expect(output.result).toMatchObject({ status: 400, error: expect.stringMatching(/^model 'local': /) });
    expect(hub.posted).toEqual([{ path: '/api/v1/llms/_provider-task/t3/result', body: output.result }]);
  });
});
