// Finds, reads and validates the registrar's config file, and turns every mistake in it into one readable line
// named by its path (`providers[1].wake.url: Invalid URL`) that never echoes a value, so never a secret.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { didYouMean } from '../did-you-mean.ts';
import { Config, PROVIDER_TYPES, TYPE_ALIASES } from './schema.ts';

/** `notes`: what the loader read differently from what the file says (a type alias), for the user to see. */
export type ParsedConfig = { ok: true; config: Config; notes: string[] } | { ok: false; problems: string[] };
export type ConfigResult = { ok: true; config: Config; notes: string[]; path: string } | { ok: false; path: string; problems: string[] };

/** What `init` writes for a token it does not know: a config still holding it would only get 401s from the hub. */
export const TOKEN_PLACEHOLDER = 'paste-your-hub-token-here';

const APP = 'llm-registrar';
const ENV_HUB_URL = 'LLM_REGISTRAR_HUB_URL';
const ENV_HUB_TOKEN = 'LLM_REGISTRAR_HUB_TOKEN';
/** Keys allowed at the top level beyond the schema's: editors read `$schema` to find `llm-registrar schema`'s output. */
const EXTRA_TOP_LEVEL_KEYS = new Set(['$schema']);

/** `$XDG_CONFIG_HOME/llm-registrar/config.json`, else the platform's usual place. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const xdg = absoluteOrUndefined(env.XDG_CONFIG_HOME);
  if (xdg) return join(xdg, APP, 'config.json');
  const home = env.HOME || homedir();
  return platform === 'darwin'
    ? join(home, 'Library', 'Application Support', APP, 'config.json')
    : join(home, '.config', APP, 'config.json');
}

/** `$XDG_STATE_HOME/llm-registrar`, else the platform's usual place. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const xdg = absoluteOrUndefined(env.XDG_STATE_HOME);
  if (xdg) return join(xdg, APP);
  const home = env.HOME || homedir();
  return platform === 'darwin'
    ? join(home, 'Library', 'Application Support', APP, 'state')
    : join(home, '.local', 'state', APP);
}

/** The XDG spec says a relative path in these variables is invalid and must be ignored. */
function absoluteOrUndefined(path: string | undefined): string | undefined {
  return path && path.startsWith('/') ? path : undefined;
}

export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { ok: false, path, problems: [describeReadError(error)] };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // V8's own message quotes the text around the mistake, which may be the token: describe it ourselves.
    return { ok: false, path, problems: [describeSyntaxError(text)] };
  }
  const parsed = parseConfig(raw, env);
  if (parsed.ok && parsed.config.hub.token === TOKEN_PLACEHOLDER) {
    const where = env[ENV_HUB_TOKEN] ? `hub.token (from ${ENV_HUB_TOKEN})` : 'hub.token';
    return { ok: false, path, problems: [`${where}: still the placeholder that \`${APP} init\` wrote: replace it with the token the hub gave you (or set ${ENV_HUB_TOKEN})`] };
  }
  return { ...parsed, path };
}

function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `the file does not exist: create one with \`${APP} init\`, or pass --config PATH`;
  if (code === 'EACCES' || code === 'EPERM') return 'the file cannot be read: permission denied';
  if (code === 'EISDIR') return 'this is a directory, not a config file';
  return `the file cannot be read (${code ?? (error as Error).message})`;
}

/** Validates an already parsed JSON value; the `LLM_REGISTRAR_HUB_*` variables win over the file's `hub`. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): ParsedConfig {
  // valibot's `object` takes an array for an object; at the top that would only say "hub: required".
  if (!isPlainObject(raw)) return { ok: false, problems: [`(top level): the config must be a JSON object (got ${describeType(raw)})`] };
  const { value: overridden, fromEnv } = applyEnvOverrides(raw, env);
  const { value, notes } = resolveTypeAliases(overridden);
  const result = v.safeParse(Config, value);
  const problems = result.success ? [] : describeIssues(result.issues, fromEnv);
  problems.push(...unknownKeys(Config, value, [], true));
  if (result.success && problems.length === 0) return { ok: true, config: result.output, notes };
  return { ok: false, problems };
}

/** `"type": "vllm"` and the like become `openai`, each with a note naming the provider. */
function resolveTypeAliases(raw: unknown): { value: unknown; notes: string[] } {
  const notes: string[] = [];
  if (!isPlainObject(raw) || !Array.isArray(raw.providers)) return { value: raw, notes };
  const providers = raw.providers.map((provider: unknown, index) => {
    if (!isPlainObject(provider) || typeof provider.type !== 'string') return provider;
    const alias = provider.type.toLowerCase();
    const type = Object.hasOwn(TYPE_ALIASES, alias) ? TYPE_ALIASES[alias] : undefined;
    if (type === undefined) return provider;
    notes.push(`providers[${index}].type: "${provider.type}" is read as "${type}" (it speaks the OpenAI API): write "type": "${type}" to say so`);
    return { ...provider, type };
  });
  return { value: { ...raw, providers }, notes };
}

function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): { value: unknown; fromEnv: Map<string, string> } {
  const fromEnv = new Map<string, string>();
  const url = env[ENV_HUB_URL] || undefined;
  const token = env[ENV_HUB_TOKEN] || undefined;
  if (url === undefined && token === undefined) return { value: raw, fromEnv };
  // A `hub` of the wrong type stays as it is, for validation to name.
  if (raw.hub !== undefined && !isPlainObject(raw.hub)) return { value: raw, fromEnv };
  const hub: Record<string, unknown> = { ...(raw.hub ?? {}) };
  if (url !== undefined) {
    // A comma-separated list: replicas of one hub, failed over in order.
    const urls = url.split(',').map((part) => part.trim()).filter((part) => part !== '');
    hub.url = urls.length > 1 ? urls : url;
    fromEnv.set('hub.url', ENV_HUB_URL);
  }
  if (token !== undefined) {
    hub.token = token;
    fromEnv.set('hub.token', ENV_HUB_TOKEN);
  }
  return { value: { ...raw, hub }, fromEnv };
}

/** One line per bad path; several complaints about one value are joined on that line. */
function describeIssues(issues: readonly v.BaseIssue<unknown>[], fromEnv: Map<string, string>): string[] {
  const byPath = new Map<string, string[]>();
  for (const issue of issues) {
    const path = formatPath((issue.path ?? []).map((item) => item.key));
    const messages = byPath.get(path) ?? [];
    const message = describeIssue(issue, path);
    if (!messages.includes(message)) messages.push(message);
    byPath.set(path, messages);
  }
  return [...byPath].map(([path, messages]) => {
    // "Invalid URL" and "Invalid URL: must start with http://" come from two checks of one value: keep the fuller.
    const kept = messages.filter((m) => !messages.some((other) => other !== m && other.startsWith(m)));
    const source = fromEnv.get(path);
    const label = path === '' ? '(top level)' : source ? `${path} (from ${source})` : path;
    return `${label}: ${kept.join('; ')}`;
  });
}

function describeIssue(issue: v.BaseIssue<unknown>, path: string): string {
  if (issue.kind === 'schema' && issue.input === undefined) return `required${missingHint(path)}`;
  // valibot ends its default messages with `Received <the value>`: the value may be a token or an API key.
  const message = issue.message.replace(/(?:: R| but r)eceived [\s\S]*$/, '');
  // The kind of a wrong value is safe to name; a wrong word where one of a few words is expected needs no more.
  const wrongWord = typeof issue.input === 'string' && /^["(]/.test(issue.expected ?? '');
  if (wrongWord) return `${message}${wordHint(issue.input as string, issue.expected ?? '', path)}`;
  return issue.kind === 'schema' ? `${message} (got ${describeType(issue.input)})` : message;
}

/** The nearest allowed word; for a provider's type, the aliases count as words too. */
function wordHint(input: string, expected: string, path: string): string {
  const words = [...expected.matchAll(/"([^"]*)"/g)].map((match) => match[1]);
  const hint = didYouMean(input, /^providers\[\d+\]\.type$/.test(path) ? [...words, ...Object.keys(TYPE_ALIASES)] : words);
  if (hint || !/^providers\[\d+\]\.type$/.test(path)) return hint;
  return ` (${PROVIDER_TYPES.join(', ')}; any OpenAI-compatible server, such as vLLM, llama.cpp or LM Studio, is "openai")`;
}

function missingHint(path: string): string {
  if (path === 'hub') return `: add "hub": { "url": ..., "token": ... }, or set ${ENV_HUB_URL} and ${ENV_HUB_TOKEN}`;
  if (path === 'hub.url') return ` (or set ${ENV_HUB_URL})`;
  if (path === 'hub.token') return ` (or set ${ENV_HUB_TOKEN})`;
  return '';
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  return typeof value === 'number' ? 'a number' : typeof value === 'boolean' ? 'a boolean' : typeof value;
}

/** `providers[1].wake.headers["X-Api-Key"]`: the way a reader would point into the JSON file. */
function formatPath(keys: readonly unknown[]): string {
  let out = '';
  for (const key of keys) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

type SchemaShape = {
  type: string;
  entries?: Record<string, v.GenericSchema>;
  wrapped?: v.GenericSchema;
  item?: v.GenericSchema;
  key?: string;
  options?: v.GenericSchema[];
};

/**
 * valibot's `object` drops keys it does not know; a typo (`publishname`, `baseURL`) would then be silently ignored,
 * so every key the schema does not name is a problem too. Records (headers, defaultParams) take any key.
 */
function unknownKeys(schema: v.GenericSchema, value: unknown, path: (string | number)[], topLevel = false): string[] {
  const shape = schema as unknown as SchemaShape;
  switch (shape.type) {
    case 'optional':
    case 'nullable':
    case 'nullish':
      return value === undefined || value === null || !shape.wrapped ? [] : unknownKeys(shape.wrapped, value, path);
    case 'array':
      return Array.isArray(value) && shape.item ? value.flatMap((item, index) => unknownKeys(shape.item!, item, [...path, index])) : [];
    case 'variant': {
      if (!isPlainObject(value) || !shape.key || !shape.options) return [];
      const key = shape.key;
      const option = shape.options.find((candidate) => {
        const discriminator = (candidate as unknown as SchemaShape).entries?.[key];
        return discriminator !== undefined && v.is(discriminator, value[key]);
      });
      return option ? unknownKeys(option, value, path) : [];
    }
    case 'object': {
      if (!isPlainObject(value) || !shape.entries) return [];
      const entries = shape.entries;
      return Object.keys(value).flatMap((key) => {
        if (Object.hasOwn(entries, key)) return unknownKeys(entries[key], value[key], [...path, key]);
        if (topLevel && EXTRA_TOP_LEVEL_KEYS.has(key)) return [];
        return [`${formatPath([...path, key])}: Unknown key${didYouMean(key, Object.keys(entries))}`];
      });
    }
    default:
      return [];
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What `llm-registrar check-config` prints: the file, then one line per problem. */
export function formatProblems(result: ConfigResult): string {
  if (result.ok) return `${result.path}: OK`;
  const count = result.problems.length === 1 ? '1 problem' : `${result.problems.length} problems`;
  return [`${result.path}: ${count}`, ...result.problems.map((problem) => `  ${problem}`)].join('\n');
}

function describeSyntaxError(text: string): string {
  const found = findJsonSyntaxError(text);
  if (!found) return 'invalid JSON';
  const before = text.slice(0, found.offset);
  const line = before.split('\n').length;
  const column = found.offset - before.lastIndexOf('\n');
  return `invalid JSON at line ${line}, column ${column}: ${found.reason}`;
}

/**
 * Walks the text by JSON's grammar (without recursion, so deep nesting cannot overflow the stack) and returns
 * where it first breaks. The reasons name what was expected, never the text found.
 * Kept, though JSON.parse finds the same errors: its messages differ between Node versions, some quote the text
 * around the error (a config line holding a token would be printed), and not all of them give a position.
 */
export function findJsonSyntaxError(text: string): { offset: number; reason: string } | undefined {
  let i = 0;
  const stack: ('{' | '[')[] = [];
  const fail = (reason: string, offset = i) => ({ offset, reason });
  const skipWhitespace = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const readString = () => {
    const start = i++;
    for (;;) {
      if (i >= text.length) return fail('unterminated string (it starts here)', start);
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return undefined;
      }
      if (code < 0x20) return fail('control character in a string: write it as an escape (\\n, \\t, …)');
      if (code !== 0x5c) {
        i++;
        continue;
      }
      const escape = text[i + 1];
      if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i += 2;
      else if (escape === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
      else return fail('invalid escape in a string');
    }
  };
  const readKey = () => {
    skipWhitespace();
    if (text[i] !== '"') return fail('expected a property name in double quotes');
    const bad = readString();
    if (bad) return bad;
    skipWhitespace();
    if (text[i] !== ':') return fail("expected ':' after a property name");
    i++;
    return undefined;
  };
  const readDigits = () => {
    const start = i;
    while (i < text.length && text[i] >= '0' && text[i] <= '9') i++;
    return i > start;
  };
  const readNumber = () => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (!readDigits()) return fail('invalid number');
    if (text[i] === '.') {
      i++;
      if (!readDigits()) return fail('invalid number: expected a digit after the decimal point');
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!readDigits()) return fail('invalid number: expected a digit in the exponent');
    }
    return undefined;
  };

  for (;;) {
    skipWhitespace();
    if (i >= text.length) return fail('unexpected end of the file: expected a value');
    const c = text[i];
    let bad: { offset: number; reason: string } | undefined;
    let opened = false;
    if (c === '{' || c === '[') {
      i++;
      skipWhitespace();
      if (text[i] === (c === '{' ? '}' : ']')) i++;
      else {
        stack.push(c);
        opened = true;
        if (c === '{') bad = readKey();
      }
    } else if (c === '"') bad = readString();
    else if (c === '-' || (c >= '0' && c <= '9')) bad = readNumber();
    else if (text.startsWith('true', i)) i += 4;
    else if (text.startsWith('false', i)) i += 5;
    else if (text.startsWith('null', i)) i += 4;
    else bad = fail('expected a value (an object, array, string, number, true, false or null)');
    if (bad) return bad;
    if (opened) continue;

    // A value is complete: close every container it completes, up to the next ',' or the end of the text.
    for (;;) {
      skipWhitespace();
      const top = stack.at(-1);
      if (top === undefined) return i < text.length ? fail('unexpected text after the end of the JSON value') : undefined;
      const close = top === '{' ? '}' : ']';
      if (i >= text.length) return fail(`unexpected end of the file: expected ',' or '${close}'`);
      if (text[i] === close) {
        i++;
        stack.pop();
        continue;
      }
      if (text[i] !== ',') return fail(top === '{' ? "expected ',' or '}' after a property value" : "expected ',' or ']' after an array element");
      i++;
      if (top === '{') {
        bad = readKey();
        if (bad) return bad;
      }
      break;
    }
  }
}
