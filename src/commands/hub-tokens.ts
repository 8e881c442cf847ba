// `llm-registrar hub tokens add NAME [--admin] | list | revoke NAME | migrate`: the hub's tokens file, edited in place
// (written whole, then renamed, mode 0600). A new token is printed once; the file keeps only its hash.
import { didYouMean } from '../did-you-mean.ts';
import { loadTokensFile, newToken, tokenDigest, writeTokensFile, type TokenRecord, type TokensFile } from '../hub/tokens.ts';
import { UsageError } from './usage.ts';

const ACTIONS = ['add', 'list', 'revoke', 'migrate'];
const ENV_TOKENS_FILE = 'LLM_REGISTRAR_HUB_TOKENS_FILE';

interface Options {
  action?: string;
  name?: string;
  file?: string;
  admin: boolean;
  json: boolean;
}

async function loadOrEmpty(file: string): Promise<TokensFile> {
  try {
    return await loadTokensFile(file);
  } catch (error) {
    if (/cannot read it \(ENOENT\)/.test((error as Error).message)) return { records: [], clearText: 0 };
    throw error;
  }
}

function checkName(name: string | undefined, action: string): string {
  if (name === undefined) throw new UsageError(`${action} needs the user's name: llm-registrar hub tokens ${action} NAME`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) throw new UsageError(`'${name}' is not a user name: letters, digits and . _ @ -, up to 64, starting with a letter or digit`);
  return name;
}

function say(line: string): void {
  process.stderr.write(line + '\n');
}

async function add(file: string, name: string, options: Options, current: TokensFile): Promise<number> {
  if (current.records.some((record) => record.user === name)) {
    say(`llm-registrar hub tokens: '${name}' already has a token in ${file}: \`llm-registrar hub tokens revoke ${name}\` first to give them a new one`);
    return 1;
  }
  const token = newToken();
  const record: TokenRecord = { digest: tokenDigest(token), user: name, admin: options.admin, created: new Date().toISOString() };
  await writeTokensFile(file, [...current.records, record]);
  if (options.json) process.stdout.write(JSON.stringify({ user: name, admin: options.admin, token }) + '\n');
  else process.stdout.write(token + '\n');
  say(`added ${options.admin ? 'admin ' : ''}'${name}' to ${file}: the token above is shown this once (the file keeps its hash); a running hub takes it within a second`);
  return 0;
}

async function revoke(file: string, name: string, current: TokensFile): Promise<number> {
  const kept = current.records.filter((record) => record.user !== name);
  const removed = current.records.length - kept.length;
  if (removed === 0) {
    const users = [...new Set(current.records.map((record) => record.user))];
    say(`llm-registrar hub tokens: no token for '${name}' in ${file}${didYouMean(name, users, "'")}${users.length ? ` (users: ${users.join(', ')})` : ''}`);
    return 1;
  }
  await writeTokensFile(file, kept);
  say(`revoked ${removed === 1 ? "the token" : `${removed} tokens`} of '${name}' in ${file}: a running hub refuses ${removed === 1 ? 'it' : 'them'} within a second`);
  return 0;
}

function list(file: string, current: TokensFile, json: boolean): number {
  const rows = current.records.map((record) => ({ user: record.user, admin: record.admin, created: record.created ?? null }));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  if (rows.length === 0) say(`no tokens in ${file} yet: \`llm-registrar hub tokens add NAME --tokens-file ${file}\` makes one`);
  else {
    const width = Math.max(4, ...rows.map((row) => row.user.length));
    const lines = [`${'USER'.padEnd(width)}  ADMIN  CREATED`, ...rows.map((row) => `${row.user.padEnd(width)}  ${(row.admin ? 'yes' : 'no').padEnd(5)}  ${row.created ?? '-'}`)];
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (current.clearText > 0) say(`${current.clearText} of them are kept in clear: \`llm-registrar hub tokens migrate --tokens-file ${file}\` stores their hashes instead`);
  return 0;
}

export async function hubTokensCommand(options: Options): Promise<number> {
  const { action } = options;
  if (action === undefined || !ACTIONS.includes(action)) {
    throw new UsageError(action === undefined ? `which action? ${ACTIONS.join(', ')}` : `no action '${action}'${didYouMean(action, ACTIONS, "'")}: ${ACTIONS.join(', ')}`);
  }
  const file = options.file ?? (process.env[ENV_TOKENS_FILE] || undefined);
  if (file === undefined) throw new UsageError(`which file? pass --tokens-file FILE (the hub's), or set ${ENV_TOKENS_FILE}`);
  if (options.admin && action !== 'add') throw new UsageError('--admin goes with add');
  if ((action === 'list' || action === 'migrate') && options.name !== undefined) throw new UsageError(`${action} takes no name`);
  const current = await loadOrEmpty(file);
  switch (action) {
    case 'add':
      return add(file, checkName(options.name, 'add'), options, current);
    case 'revoke':
      return revoke(file, checkName(options.name, 'revoke'), current);
    case 'migrate':
      await writeTokensFile(file, current.records);
      say(current.clearText > 0 ? `${file}: ${current.clearText} tokens now kept as hashes (they stay valid)` : `${file}: every token was kept as a hash already`);
      return 0;
    default:
      return list(file, current, options.json);
  }
}
