// The real command, as a user runs it: a child process, real signals, the printed curl.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/index.ts';
import { killChildren, runCli } from '../support/cli.ts';
import { chatStream, eventually, fastHub, fastTiming, hubGet, TOKEN } from '../support/cluster.ts';
import { startOpenAiServer, type ModelServer } from '../support/model-server.ts';

let hub: Hub | undefined;
let model: ModelServer | undefined;

afterEach(async () => {
  killChildren();
  await hub?.close();
  await model?.close();
  hub = model = undefined;
});


async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('llm-registrar as a process', () => {
  it('on SIGTERM mid-stream finishes the task, posts the whole result, and exits 0', async () => {
    const words = Array.from({ length: 20 }, (_, i) => `t${i}`);
    model = await startOpenAiServer({ reply: () => words.join(' '), tokenDelayMs: 30 });
    hub = await startHub({ port: 0, tokens: { [TOKEN]: { user: 'tester', admin: true } }, ...fastHub });
    const dir = await mkdtemp(join(tmpdir(), 'llmr-e2e-'));
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ hub: { url: hub.url, token: TOKEN }, providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm' }], timing: fastTiming }));
    const daemon = runCli(['start', '--config', config, '--state-dir', join(dir, 'state')]);
    await eventually(async () => expect((await hubGet(hub!.url, '/api/v1/llms/gpu')).json?.status).toBe('active'), 15_000);

    let signalled = false;
    const call = await chatStream(hub.url, { model: 'gpu', messages: [{ role: 'user', content: 'go' }] }, () => {
      if (!signalled) daemon.child.kill('SIGTERM');
      signalled = true;
    });
    expect(call.text).toBe(words.join(' '));
    expect(call.events.at(-1)).toBe('[DONE]');
    expect(await daemon.exited).toBe(0);
    expect(daemon.output()).toMatch(/draining/);
    expect(daemon.output()).not.toContain(TOKEN);
  });

  it('`up` publishes the demo model and prints a curl that works; SIGTERM stops it', async () => {
    const port = await freePort();
    const home = await mkdtemp(join(tmpdir(), 'llmr-up-'));
    const up = runCli(['up', '--port', String(port), '--state-dir', join(home, 'state')], { HOME: home, XDG_CONFIG_HOME: home, XDG_STATE_HOME: home });
    const printed = await eventually(() => {
      const match = /curl -N (\S+) \\\n\s+-H 'Authorization: Bearer (\S+)'[\s\S]*?-d '(.+)'/.exec(up.output());
      expect(match).not.toBeNull();
      return match!;
    }, 15_000);
    const [, endpoint, token, body] = printed;
    const response = await fetch(endpoint, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...JSON.parse(body), stream: false }) });
    expect(response.status).toBe(200);
    const json = (await response.json()) as { model: string; choices: { message: { content: string } }[] };
    expect(json.model).toBe('demo');
    expect(json.choices[0].message.content).toMatch(/demo model/);
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(0);
  });
});
