// The stage of most fault tests: a script hub, an OpenAI-compatible model server double and a registrar publishing it
// as `gpu`, torn down after each test with the checks every fault test shares: no unhandled rejection, no crash,
// no stop nobody asked for, and the invariant over everything the registrar received.
import { afterEach, expect } from 'vitest';
import { invariantViolations } from './invariant.ts';
import { startOpenAiServer, type ModelScript, type ModelServer } from './model-server.ts';
import { guardProcess } from './process-guard.ts';
import { startRegistrar, type Registrar } from './registrar.ts';
import { startScriptHub, type HubScript, type ScriptHub } from './script-hub.ts';

export interface Stage {
  hub: ScriptHub;
  model: ModelServer;
  registrar: Registrar;
}

export interface StageOptions {
  hub?: HubScript;
  model?: ModelScript;
  /** Extra fields of the `gpu` provider config (maxConcurrency, wake…). */
  provider?: Record<string, unknown>;
  timing?: Record<string, number>;
  /** Stop the model server before the registrar starts (it probes it down: hibernating with a wake recipe). */
  modelStopped?: boolean;
  /** Wait for the first task stream before handing the stage over (default true). */
  waitForStream?: boolean;
}

/** Installs the process guard and the after-each teardown and checks; call once at the top of a test file. */
export function faultStage() {
  guardProcess();
  let current: Stage | undefined;
  const extraCleanups: (() => Promise<void> | void)[] = [];

  afterEach(async () => {
    const troubles = current?.registrar.troubles() ?? [];
    await current?.registrar.stop();
    await current?.hub.close();
    await current?.model.close();
    // Last registered, first run: a directory is removed only after the daemon writing into it has stopped.
    for (const cleanup of extraCleanups.splice(0).reverse()) await cleanup();
    current = undefined;
    expect(troubles).toEqual([]);
  });

  return {
    async start(options: StageOptions = {}): Promise<Stage> {
      const hub = await startScriptHub({ keepAliveMs: 50, ...options.hub });
      const model = await startOpenAiServer(options.model ?? {});
      if (options.modelStopped) await model.stop();
      const registrar = await startRegistrar({
        hubUrl: hub.url,
        providers: [{ name: 'gpu', type: 'openai', baseUrl: model.baseUrl, model: 'm', ...options.provider }],
        timing: options.timing,
      });
      current = { hub, model, registrar };
      if (options.waitForStream !== false) await hub.waitForStream();
      return current;
    },
    /** Runs after the stage is torn down. */
    cleanup(fn: () => Promise<void> | void) {
      extraCleanups.push(fn);
    },
    /** The invariant over the current stage; `text` is what the model produced per task, `exempt` the 404'd or cancelled. */
    check(text: Record<string, string> = {}, exempt: Iterable<string> = []) {
      expect(invariantViolations({ received: current!.registrar.received, results: current!.hub.results, text, exempt })).toEqual([]);
    },
  };
}

export const infer = (taskId: string, content: string, streaming = false, llmName = 'gpu') => ({
  kind: 'infer',
  taskId,
  llmName,
  streaming,
  request: { messages: [{ role: 'user', content }] },
});

export const wake = (taskId: string, llmName = 'gpu') => ({ kind: 'wake', taskId, llmName });

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
