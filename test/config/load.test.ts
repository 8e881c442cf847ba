// The config loader: defaults, every problem named by its path at once, environment overrides, and no secret
// ever echoed back.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfigPath,
  defaultStateDir,
  findJsonSyntaxError,
  formatProblems,
  loadConfig,
  parseConfig,
  type ConfigResult,
} from '../../src/config/load.ts';
import { Config } from '../../src/config/schema.ts';

let dir: string;
let fileCount = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llm-registrar-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(content: unknown): Promise<string> {
  const path = join(dir, `config-${fileCount++}.json`);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

const NO_ENV = {};
const goodConfig = {
  hub: { url: 'https://hub.example.com', token: 'tok-good' },
  providers: [{ name: 'qwen', type: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'Qwen/Qwen2.5-7B-Instruct' }],
};

function problemsOf(result: ConfigResult | ReturnType<typeof parseConfig>): string[] {
  return result.ok ? [] : result.problems;
}

describe('loadConfig', () => {
  it('loads a good file and applies the defaults', async () => {
    const path = await configFile(goodConfig);
    const result = await loadConfig(path, NO_ENV);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.path).toBe(path);
    expect(result.config.hub).toEqual({ url: 'https://hub.example.com', urls: ['https://hub.example.com'], token: 'tok-good' });
    expect(result.config.providers[0]).toMatchObject({ publish: true, visibility: 'private', maxConcurrency: 4 });
    expect(result.config.agents).toEqual([]);
    expect(result.config.timing).toMatchObject({ heartbeatMs: 30_000, backoffBaseMs: 5_000, backoffCapMs: 60_000, streamIdleMs: 45_000, drainMs: 30_000 });
    expect(result.config.status).toEqual({ port: 4849, host: '127.0.0.1', enabled: true });
  });

  it('accepts a $schema key at the top, for editors', async () => {
    const result = await loadConfig(await configFile({ $schema: './schema.json', ...goodConfig }), NO_ENV);
    expect(problemsOf(result)).toEqual([]);
  });

  it('names every problem by its path in bracket form, all at once, one line each', async () => {
    const path = await configFile({
      hub: { url: 'https://hub.example.com', token: 'tok' },
      providers: [
        { name: 'a', type: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm', maxConcurrency: 'four' },
        { name: 'b', type: 'ollama', baseUrl: 'http://127.0.0.1:11434', model: 'm', wake: { type: 'http', url: 'wake me up' } },
      ],
      timing: { heartbeatMs: 0 },
    });
    const result = await loadConfig(path, NO_ENV);
    expect(problemsOf(result)).toEqual([
      'providers[0].maxConcurrency: Invalid type: Expected number (got a string)',
      'providers[1].wake.url: Invalid URL: must start with http:// or https://',
      'timing.heartbeatMs: Invalid value: Expected >=1',
    ]);
    expect(formatProblems(result).split('\n')).toEqual([
      `${path}: 3 problems`,
      '  providers[0].maxConcurrency: Invalid type: Expected number (got a string)',
      '  providers[1].wake.url: Invalid URL: must start with http:// or https://',
      '  timing.heartbeatMs: Invalid value: Expected >=1',
    ]);
  });

  it('quotes a path segment that is not a plain word', () => {
    const result = parseConfig(
      { ...goodConfig, providers: [{ ...goodConfig.providers[0], wake: { type: 'http', url: 'http://h/wake', headers: { 'X-Api-Key': 7 } } }] },
      NO_ENV,
    );
    expect(problemsOf(result)).toEqual(['providers[0].wake.headers["X-Api-Key"]: Invalid type: Expected string (got a number)']);
  });

  it('reports keys the schema does not know, with the likely one when only the case differs', () => {
    const result = parseConfig({ ...goodConfig, providers: [{ ...goodConfig.providers[0], publishname: 'x' }], extra: 1 }, NO_ENV);
    expect(problemsOf(result)).toEqual(['providers[0].publishname: Unknown key (did you mean "publishName"?)', 'extra: Unknown key']);
  });

  it('suggests the nearest key for a typo, by edit distance', () => {
    const result = parseConfig({ ...goodConfig, providers: [{ ...goodConfig.providers[0], maxConcurency: 8, baseUlr: 'http://x' }] }, NO_ENV);
    expect(problemsOf(result)).toEqual(['providers[0].maxConcurency: Unknown key (did you mean "maxConcurrency"?)', 'providers[0].baseUlr: Unknown key (did you mean "baseUrl"?)']);
  });

  it('reads vllm, llamacpp and lmstudio as openai, and says so', () => {
    for (const alias of ['vllm', 'llamacpp', 'lmstudio', 'llama.cpp']) {
      const result = parseConfig({ ...goodConfig, providers: [{ ...goodConfig.providers[0], type: alias }] }, NO_ENV);
      expect(result.ok, alias).toBe(true);
      if (!result.ok) continue;
      expect(result.config.providers[0].type).toBe('openai');
      expect(result.notes).toEqual([`providers[0].type: "${alias}" is read as "openai" (it speaks the OpenAI API): write "type": "openai" to say so`]);
    }
  });

  it('names the nearest type for a misspelt one, and what the types are for an unknown one', () => {
    const typo = parseConfig({ ...goodConfig, providers: [{ ...goodConfig.providers[0], type: 'olama' }] }, NO_ENV);
    expect(problemsOf(typo)).toEqual([expect.stringMatching(/^providers\[0\]\.type: Invalid type: .* \(did you mean "ollama"\?\)$/)]);
    const unknown = parseConfig({ ...goodConfig, providers: [{ ...goodConfig.providers[0], type: 'tensorrt' }] }, NO_ENV);
    expect(problemsOf(unknown)[0]).toContain('any OpenAI-compatible server, such as vLLM, llama.cpp or LM Studio, is "openai"');
  });

  it("refuses init's placeholder token, saying what to put there", async () => {
    const result = await loadConfig(await configFile({ ...goodConfig, hub: { ...goodConfig.hub, token: 'paste-your-hub-token-here' } }), NO_ENV);
    expect(problemsOf(result)).toEqual([
      'hub.token: still the placeholder that `llm-registrar init` wrote: replace it with the token the hub gave you (or set LLM_REGISTRAR_HUB_TOKEN)',
    ]);
    expect((await loadConfig(await configFile({ ...goodConfig, hub: { ...goodConfig.hub, token: 'paste-your-hub-token-here' } }), { LLM_REGISTRAR_HUB_TOKEN: 'real' })).ok).toBe(true);
  });

  it('refuses a file that does not exist, saying how to create one', async () => {
    const result = await loadConfig(join(dir, 'nope.json'), NO_ENV);
    expect(problemsOf(result)).toHaveLength(1);
    expect(problemsOf(result)[0]).toMatch(/does not exist.*llm-registrar init/);
  });

  it('names the line and column of a JSON syntax error', async () => {
    const text = '{\n  "hub": {\n    "url": "https://hub.example.com",\n    "token": "t",\n  }\n}\n';
    const result = await loadConfig(await configFile(text), NO_ENV);
    expect(problemsOf(result)).toEqual(['invalid JSON at line 5, column 3: expected a property name in double quotes']);
  });

  it('reads a file that starts with a byte order mark', async () => {
    const result = await loadConfig(await configFile(`\uFEFF${JSON.stringify(goodConfig)}`), NO_ENV);
    expect(result.ok).toBe(true);
  });

  it('refuses a top level that is not an object', () => {
    expect(problemsOf(parseConfig([goodConfig], NO_ENV))).toEqual(['(top level): the config must be a JSON object (got an array)']);
  });

  it('says a missing hub can come from the environment', () => {
    expect(problemsOf(parseConfig({ providers: [] }, NO_ENV))).toEqual([
      'hub: required: add "hub": { "url": ..., "token": ... }, or set LLM_REGISTRAR_HUB_URL and LLM_REGISTRAR_HUB_TOKEN',
    ]);
  });
});

describe('environment overrides', () => {
  const env = { LLM_REGISTRAR_HUB_URL: 'http://hub.internal:8080', LLM_REGISTRAR_HUB_TOKEN: 'tok-env' };

  it('win over the file', () => {
    const result = parseConfig(goodConfig, env);
    expect(result.ok && result.config.hub).toEqual({ url: 'http://hub.internal:8080', urls: ['http://hub.internal:8080'], token: 'tok-env' });
  });

  it('make a missing hub section fine', () => {
    const result = parseConfig({ providers: goodConfig.providers }, env);
    expect(result.ok && result.config.hub).toEqual({ url: 'http://hub.internal:8080', urls: ['http://hub.internal:8080'], token: 'tok-env' });
  });

  it('may set only one of the two', () => {
    const result = parseConfig({ ...goodConfig, hub: { url: 'https://hub.example.com' } }, { LLM_REGISTRAR_HUB_TOKEN: 'tok-env' });
    expect(result.ok && result.config.hub).toEqual({ url: 'https://hub.example.com', urls: ['https://hub.example.com'], token: 'tok-env' });
  });

  it('are ignored when empty', () => {
    const result = parseConfig(goodConfig, { LLM_REGISTRAR_HUB_URL: '', LLM_REGISTRAR_HUB_TOKEN: '' });
    expect(result.ok && result.config.hub).toEqual({ ...goodConfig.hub, urls: [goodConfig.hub.url] });
  });

  it('read a comma-separated LLM_REGISTRAR_HUB_URL as the replicas of one hub, in order', () => {
    const result = parseConfig(goodConfig, { LLM_REGISTRAR_HUB_URL: 'http://a.internal:4848, http://b.internal:4848,' });
    expect(result.ok && result.config.hub).toEqual({ url: 'http://a.internal:4848', urls: ['http://a.internal:4848', 'http://b.internal:4848'], token: 'tok-good' });
  });

  it('are named when their value is the problem', () => {
    const result = parseConfig(goodConfig, { LLM_REGISTRAR_HUB_URL: 'ftp://hub' });
    expect(problemsOf(result)).toEqual(['hub.url (from LLM_REGISTRAR_HUB_URL): Invalid URL: must start with http:// or https://']);
  });
});

describe('default locations', () => {
  it('follow XDG when it is set', () => {
    expect(defaultConfigPath({ XDG_CONFIG_HOME: '/x/config', HOME: '/home/u' }, 'linux')).toBe('/x/config/llm-registrar/config.json');
    expect(defaultStateDir({ XDG_STATE_HOME: '/x/state', HOME: '/home/u' }, 'darwin')).toBe('/x/state/llm-registrar');
  });

  it('fall back to the home directory, the macOS way on macOS', () => {
    expect(defaultConfigPath({ HOME: '/home/u' }, 'linux')).toBe('/home/u/.config/llm-registrar/config.json');
    expect(defaultStateDir({ HOME: '/home/u' }, 'linux')).toBe('/home/u/.local/state/llm-registrar');
    expect(defaultConfigPath({ HOME: '/Users/u' }, 'darwin')).toBe('/Users/u/Library/Application Support/llm-registrar/config.json');
    expect(defaultStateDir({ HOME: '/Users/u' }, 'darwin')).toBe('/Users/u/Library/Application Support/llm-registrar/state');
  });

  it('ignore a relative XDG path, as the XDG spec says', () => {
    expect(defaultConfigPath({ XDG_CONFIG_HOME: 'relative', HOME: '/home/u' }, 'linux')).toBe('/home/u/.config/llm-registrar/config.json');
  });
});

describe('secrets', () => {
  // Long enough that it cannot turn up in a problem text by chance.
  const secret = fc.string({ minLength: 10, maxLength: 60 });

  /** Places where a secret can sit when the file is wrong: at its own path, or pasted where it does not belong. */
  const badFiles = (token: string): unknown[] => {
    const provider = goodConfig.providers[0];
    return [
      { hub: { url: 'not a url', token } },
      { hub: { url: token, token: 'x' } },
      { hub: { url: 'https://hub', token: [token] } },
      { hub: { url: 'https://hub', token: { value: token } } },
      { hub: goodConfig.hub, providers: [{ ...provider, apiKey: token, maxConcurrency: 0 }] },
      { hub: goodConfig.hub, providers: [{ ...provider, apiKey: [token] }] },
      { hub: goodConfig.hub, providers: [{ ...provider, baseUrl: token, model: token, type: token, tier: token, publish: token, maxConcurrency: token }] },
      { hub: goodConfig.hub, providers: [{ ...provider, name: token, visibility: token, wake: { type: token } }] },
      { hub: goodConfig.hub, providers: [{ ...provider, wake: { type: 'http', url: 'nope', method: token, headers: { Authorization: `Bearer ${token}` } } }] },
      { hub: goodConfig.hub, providers: [{ ...provider, wake: { type: 'http', url: token, headers: { Authorization: [token] } } }] },
      { hub: goodConfig.hub, timing: { heartbeatMs: token }, status: { port: token, host: 7 } },
      { hub: goodConfig.hub, agents: [{ name: token, llmName: token, systemPrompt: 5 }] },
    ];
  };

  function leaks(output: string, token: string): boolean {
    return output.includes(token) || output.includes(JSON.stringify(token)) || output.includes(JSON.stringify(token).slice(1, -1));
  }

  it('valibot itself would echo them, so the check below can fail', () => {
    const token = 'sk-live-0123456789';
    const result = v.safeParse(Config, badFiles(token)[1]);
    expect(result.issues?.some((issue) => issue.message.includes(token))).toBe(true);
  });

  it('never appear in a problem or in the printed report', () => {
    fc.assert(
      fc.property(secret, (token) => {
        for (const file of badFiles(token)) {
          const result = parseConfig(file, NO_ENV);
          expect(result.ok).toBe(false);
          const output = formatProblems({ ...result, path: '/config.json' } as ConfigResult);
          expect(leaks(output, token), output).toBe(false);
        }
      }),
    );
  });

  it('never appear when they come from the environment', () => {
    fc.assert(
      fc.property(secret, (token) => {
        const result = parseConfig({ providers: [] }, { LLM_REGISTRAR_HUB_URL: token, LLM_REGISTRAR_HUB_TOKEN: token });
        expect(result.ok).toBe(false);
        expect(leaks(problemsOf(result).join('\n'), token)).toBe(false);
      }),
    );
  });

  it('never appear in a JSON syntax error, though V8 would quote the text around it', async () => {
    await fc.assert(
      fc.asyncProperty(secret, fc.constantFrom('x', '}', ',}', ' 1', ':'), async (token, breakage) => {
        const text = `{"hub": {"url": "https://hub", "token": ${JSON.stringify(token)}${breakage}}}`;
        const result = await loadConfig(await configFile(text), NO_ENV);
        expect(result.ok).toBe(false);
        expect(leaks(formatProblems(result), token)).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('never appear, not even in part, when the quotes around one were forgotten', async () => {
    const bareToken = fc.stringMatching(/^[A-Za-z0-9_-]{12,40}$/);
    await fc.assert(
      fc.asyncProperty(bareToken, async (token) => {
        const text = `{"hub": {"url": "https://hub", "token": ${token}}}`;
        const result = await loadConfig(await configFile(text), NO_ENV);
        expect(problemsOf(result)).toHaveLength(1);
        expect(formatProblems(result)).not.toContain(token.slice(0, 8));
      }),
      { numRuns: 40 },
    );
  });
});

describe('robustness', () => {
  it('never throws on any JSON value, and answers a config or at least one problem', () => {
    const anyConfigish = fc.oneof(
      fc.jsonValue(),
      fc.record(
        { hub: fc.jsonValue(), providers: fc.oneof(fc.jsonValue(), fc.array(fc.dictionary(fc.constantFrom('name', 'type', 'baseUrl', 'model', 'wake', 'publish'), fc.jsonValue()))), agents: fc.jsonValue(), timing: fc.jsonValue() },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(anyConfigish, (raw) => {
        const result = parseConfig(raw, NO_ENV);
        if (result.ok) expect(result.config.hub.token.length).toBeGreaterThan(0);
        else expect(result.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on any file content', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json()), async (text) => {
        const result = await loadConfig(await configFile(text), NO_ENV);
        expect(result.ok || result.problems.length > 0).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('finds a syntax error exactly when JSON.parse does', () => {
    const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 2 }), insert: fc.string({ unit: fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', '-', '0', '1', '.', 'e', 't', 'n', ' ', '\n', 'u', '\u0001'), maxLength: 4 }) });
    fc.assert(
      fc.property(fc.json(), fc.array(edit, { maxLength: 3 }), (json, edits) => {
        let text = json;
        for (const { at, remove, insert } of edits) {
          const i = text.length === 0 ? 0 : at % (text.length + 1);
          text = text.slice(0, i) + insert + text.slice(i + remove);
        }
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        expect(findJsonSyntaxError(text) === undefined).toBe(parses);
      }),
      { numRuns: 2000 },
    );
  });

  it('locates an error in deeply nested text without overflowing the stack', () => {
    const text = `${'['.repeat(100_000)}1,]`;
    expect(findJsonSyntaxError(text)).toEqual({ offset: 100_002, reason: 'expected a value (an object, array, string, number, true, false or null)' });
  });
});

describe('hub.url as a list', () => {
  it('takes the URLs of one hub in order; url stays the first', () => {
    const result = parseConfig({ ...goodConfig, hub: { url: ['http://a:4848', 'http://b:4848'], token: 't' } }, NO_ENV);
    expect(result.ok && result.config.hub).toEqual({ url: 'http://a:4848', urls: ['http://a:4848', 'http://b:4848'], token: 't' });
  });

  it.each([
    [[], 'hub.url'],
    [['http://a:4848', 'ftp://b'], 'hub.url'],
    [42, 'hub.url'],
  ])('refuses %j, naming hub.url', (url, path) => {
    const problems = problemsOf(parseConfig({ ...goodConfig, hub: { url, token: 't' } }, NO_ENV));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.startsWith(path)).toBe(true);
  });
});
