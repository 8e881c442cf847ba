// Carry out a provider's wake recipe (SPEC.md, "wake http recipe" / "wake command recipe"); the provider
// machine then polls readiness.
import { spawn } from 'node:child_process';
import ky from 'ky';
import { fromPromise } from 'xstate';
import type { WakeInput, WakeStarted } from '../machines/provider.ts';
import type { WakeRecipe } from '../src/config/schema.ts';
import { networkErrorPhrase } from '../src/network-error.ts';
import { redactUrl } from '../src/redact.ts';
import type { ActorDeps } from './deps.ts';

async function wakeByHttp(recipe: Extract<WakeRecipe, { type: 'http' }>, timeoutMs: number, signal: AbortSignal): Promise<void> {
  let response: Response;
  try {
    response = await ky(recipe.url, {
      method: recipe.method,
      headers: recipe.headers,
      ...(recipe.body === undefined ? {} : typeof recipe.body === 'string' ? { body: recipe.body } : { json: recipe.body }),
      timeout: timeoutMs,
      retry: 0,
      throwHttpErrors: false,
      signal,
    });
  } catch (error) {
    throw Object.assign(new Error(`wake request to ${redactUrl(recipe.url)} failed: ${networkErrorPhrase(error)}`), { callerReason: 'the wake request found no one to answer it' });
  }
  await response.body?.cancel();
  if (!response.ok) throw Object.assign(new Error(`wake request to ${redactUrl(recipe.url)} answered ${response.status}`), { callerReason: `the wake request answered ${response.status}` });
}

function wakeByCommand(recipe: Extract<WakeRecipe, { type: 'command' }>, killGraceMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(recipe.command, recipe.args, { shell: false, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-500);
    });
    const onAbort = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), killGraceMs).unref();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(Object.assign(new Error(`wake command '${recipe.command}' could not start: ${error.message}`), { callerReason: 'the wake command could not start' }));
    });
    child.on('exit', (code, killedBy) => {
      signal.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else {
        const how = killedBy ? `was killed by ${killedBy}` : `exited with code ${code}`;
        // Callers hear how it ended, not the command's path or what it printed (the log keeps both).
        reject(Object.assign(new Error(`wake command '${recipe.command}' ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`), { callerReason: `the wake command ${how}` }));
      }
    });
  });
}

/** Answers when the recipe started: the provider measures the wake from there to the poll that finds it ready. */
export function wakeRecipeActor(deps: Pick<ActorDeps, 'providers' | 'logger' | 'timing'>) {
  return fromPromise<WakeStarted, WakeInput>(async ({ input, signal }) => {
    const startedAt = Date.now();
    const recipe = deps.providers.get(input.name)?.config.wake;
    if (!recipe) throw new Error(`provider '${input.name}' has no wake recipe`);
    deps.logger.info({ provider: input.name, recipe: recipe.type }, 'waking provider');
    if (recipe.type === 'http') await wakeByHttp(recipe, deps.timing.wakeHttpTimeoutMs, signal);
    else await wakeByCommand(recipe, deps.timing.wakeKillGraceMs, signal);
    return { startedAt };
  });
}
