// The real command as a child process, for the end-to-end tests of the CLI: output captured, killed after the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { eventually } from './cluster.ts';

export const BIN = join(import.meta.dirname, '../../bin/llm-registrar');
const children: ChildProcess[] = [];

export interface Running {
  child: ChildProcess;
  /** Its exit code, once it exited and all it wrote has been read. */
  exited: Promise<number | null>;
  /** stdout and stderr together, as a person would see them. */
  output(): string;
  stdout(): string;
  stderr(): string;
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (data) => ((output += data), (stdout += data)));
  child.stderr!.on('data', (data) => ((output += data), (stderr += data)));
  // On 'close', not 'exit': the process may exit before its last output is read from the pipes.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited, output: () => output, stdout: () => stdout, stderr: () => stderr };
}

/** Runs a command to its end. */
export async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = runCli(args, env);
  const code = await running.exited;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

export function killChildren(): void {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** `llm-registrar hub` on a free port; resolves with its URL once it says where it listens. */
export async function startHubCli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ hub: Running; url: string }> {
  const hub = runCli(['hub', '--port', '0', ...args], env);
  const url = await eventually(() => {
    const match = /"url":"(https?:\/\/[^"]+)"/.exec(hub.stdout());
    expect(match, hub.output()).not.toBeNull();
    return match![1]!;
  }, 15_000);
  return { hub, url };
}
