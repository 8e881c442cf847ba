// What `status` and the live line say a `model: "*"` provider publishes: the models its server lists, as the hub
// shows them, following the list as models come and go; not the configured row with its "*".
import { afterEach, describe, expect, it } from 'vitest';
import { StatusTracker } from '../../inspect/tracker.ts';
import { logActivity } from '../../src/commands/activity-log.ts';
import { formatStatus } from '../../src/commands/status.ts';
import { publishedRows } from '../../src/commands/watch.ts';
import { parseConfig } from '../../src/config/load.ts';
import { eventually, startCluster, type Cluster } from '../support/cluster.ts';
import { startOllamaServer, type ModelServer } from '../support/model-server.ts';
import { captureLogs } from '../support/registrar.ts';

let cluster: Cluster | undefined;
let ollama: ModelServer | undefined;
afterEach(async () => {
  await cluster?.close();
  await ollama?.close();
  cluster = undefined;
  ollama = undefined;
});

describe('a model "*" provider in status and the live line', () => {
  it('names the models its server lists, and follows the list', async () => {
    ollama = await startOllamaServer({ models: ['llama3.2:3b', 'qwen2.5:7b'] });
    const providers = [{ name: 'desk', type: 'ollama', baseUrl: ollama.baseUrl, model: '*', visibility: 'public' }];
    const parsed = parseConfig({ hub: { url: 'http://127.0.0.1:1', token: 't' }, providers }, {});
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const tracker = new StatusTracker({ published: publishedRows(parsed.config) });
    const { logger, lines } = captureLogs();
    logActivity({ tracker, logger, hubUrl: 'http://hub.example:4848' });
    cluster = await startCluster({ providers, timing: { modelSyncMs: 50 }, follow: (actor) => tracker.follow(actor) });

    const live = await eventually(() => {
      const line = lines.find((entry) => String(entry.msg).startsWith('live on'));
      expect(line).toBeDefined();
      return String(line?.msg);
    });
    expect(live).toContain(`publishing 'llama3.2:3b' (public: every token of the hub), 'qwen2.5:7b' (public: every token of the hub)`);
    expect(live).not.toContain("'desk'");
    expect(tracker.report().published?.map((row) => row.name)).toEqual(['llama3.2:3b', 'qwen2.5:7b']);
    const shown = formatStatus(tracker.report(), { colour: false });
    expect(shown).toMatch(/^ {2}qwen2\.5:7b +public +ollama qwen2\.5:7b$/m);
    expect(shown).not.toMatch(/^ {2}desk /m);

    ollama.script.models = ['llama3.2:3b', 'phi4:14b'];
    await eventually(() => expect(tracker.report().published?.map((row) => row.name)).toEqual(['llama3.2:3b', 'phi4:14b']));
  });
});
