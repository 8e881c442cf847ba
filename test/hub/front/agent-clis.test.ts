// The real agent CLIs through the front doors, scripted: Claude Code over /v1/messages, Codex over /v1/responses,
// each running one tool call against the chat double and reading its result back. Both install from npm and run
// on loopback without a login, but weigh ~400 MB each, so they are not dependencies: point the variables at them
// (`npm i @anthropic-ai/claude-code @openai/codex` in a scratch dir) to run these.
//   LLM_REGISTRAR_CLAUDE_BIN=/tmp/x/node_modules/.bin/claude LLM_REGISTRAR_CODEX_BIN=/tmp/x/node_modules/.bin/codex
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, frontHarness } from './front-app.ts';

const CLAUDE = process.env.LLM_REGISTRAR_CLAUDE_BIN;
const CODEX = process.env.LLM_REGISTRAR_CODEX_BIN;
const harness = frontHarness();
const scratch: string[] = [];
afterEach(async () => {
  for (const dir of scratch.splice(0)) await rm(dir, { recursive: true, force: true });
});

function run(bin: string, args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env: { PATH: process.env.PATH ?? '', ...env }, cwd, timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end();
  });
}

async function home(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'front-cli-'));
  scratch.push(dir);
  return dir;
}

describe.skipIf(!CLAUDE)('Claude Code over POST /v1/messages', () => {
  it('runs a Bash tool call and answers with its output', { timeout: 120_000 }, async () => {
    const app = await harness.start();
    const dir = await home();
    const { code, output } = await run(
      CLAUDE!,
      ['-p', 'call Bash {"command":"echo hi-from-tool","description":"Say hi"}', '--model', 'qwen-coder', '--allowedTools', 'Bash(echo:*)'],
      { HOME: dir, ANTHROPIC_BASE_URL: app.url, ANTHROPIC_AUTH_TOKEN: ALICE, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
      dir,
    );
    expect(output).toContain('The tool said: hi-from-tool');
    expect(code).toBe(0);
    expect(app.upstream.bodies.some((body) => JSON.stringify(body.messages).includes('"role":"tool"'))).toBe(true);
  });
});

describe.skipIf(!CODEX)('Codex over POST /v1/responses', () => {
  it('runs an exec_command tool call and answers with its output', { timeout: 120_000 }, async () => {
    const app = await harness.start();
    const dir = await home();
    await writeFile(
      join(dir, 'config.toml'),
      [
        'web_search = "disabled"',
        'model = "qwen-coder"',
        'model_provider = "hub"',
        '[model_providers.hub]',
        'name = "llm-registrar hub"',
        `base_url = "${app.url}/v1"`,
        'env_key = "LLM_HUB_TOKEN"',
        'wire_api = "responses"',
      ].join('\n'),
    );
    const { code, output } = await run(
      CODEX!,
      ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', 'call exec_command {"cmd":"echo hi-from-tool"}'],
      { HOME: dir, CODEX_HOME: dir, LLM_HUB_TOKEN: ALICE },
      dir,
    );
    expect(output).toMatch(/The tool said: [\s\S]*hi-from-tool/);
    expect(code).toBe(0);
  });
});
