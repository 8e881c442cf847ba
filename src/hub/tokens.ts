// The hub's tokens file: JSON `{ "sha256:<hex>": { "user": "...", "admin"?: true, "created"?: "<ISO time>" } }`, a
// token's hash as the key (`llm-registrar hub tokens add` writes them). A key without `sha256:` is a token in clear,
// the old format: still read, with a warning to migrate. Problems are named by entry number and user, never by the
// key, so an error message is safe to paste anywhere.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Who a token is: the user its calls and sessions belong to, and whether it may see everyone's. */
export interface HubUser {
  user: string;
  admin?: boolean;
}

/** One token of the file, known by its hash alone. */
export interface TokenRecord {
  digest: string;
  user: string;
  admin: boolean;
  created?: string;
}

export interface TokensFile {
  records: TokenRecord[];
  /** Entries kept in clear (the old format): the file should be rewritten with hashes. */
  clearText: number;
}

const DIGEST_KEY = /^sha256:([0-9a-f]{64})$/;

/**
 * SHA-256, unsalted, is enough here: a token is 192 random bits, so no dictionary or brute force can find one from its
 * hash; a slow password hash (scrypt, argon2) protects guessable secrets and would cost every request its time.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new token: `llmr_` and 24 random bytes. */
export function newToken(): string {
  return `llmr_${randomBytes(24).toString('base64url')}`;
}

export async function loadTokensFile(path: string): Promise<TokensFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`tokens file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be a token: say where, not what.
    throw new Error(`tokens file ${path}: not valid JSON (expected {"sha256:<hash>": {"user": "name", "admin"?: true}}; \`llm-registrar hub tokens add NAME\` writes it)`);
  }
  return parseTokens(json, `tokens file ${path}`);
}

export function parseTokens(json: unknown, source: string): TokensFile {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: expected an object {"sha256:<hash>": {"user": "name", "admin"?: true}}`);
  }
  const problems: string[] = [];
  const records: TokenRecord[] = [];
  let clearText = 0;
  Object.entries(json).forEach(([key, value], index) => {
    const entry = value as { user?: unknown; admin?: unknown; created?: unknown } | null;
    const user = typeof entry === 'object' && entry !== null && typeof entry.user === 'string' ? entry.user : undefined;
    const where = `entry ${index + 1}${user ? ` (user '${user}')` : ''}`;
    const hashed = DIGEST_KEY.exec(key);
    if (!hashed && (key.trim() === '' || /\s/.test(key))) problems.push(`${where}: the token is empty or contains whitespace`);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected {"user": "name", "admin"?: true}`);
      return;
    }
    if (user === undefined || user.trim() === '') problems.push(`${where}: "user" must be a non-empty string`);
    if (entry.admin !== undefined && typeof entry.admin !== 'boolean') problems.push(`${where}: "admin" must be true or false`);
    if (entry.created !== undefined && typeof entry.created !== 'string') problems.push(`${where}: "created" must be a string`);
    if (!user) return;
    if (!hashed) clearText++;
    records.push({
      digest: hashed ? hashed[1] : tokenDigest(key),
      user,
      admin: entry.admin === true,
      ...(typeof entry.created === 'string' ? { created: entry.created } : {}),
    });
  });
  if (problems.length > 0) throw new Error(`${source}: ${problems.join('; ')}`);
  return { records, clearText };
}

/** The records of clear tokens given on the command line or in the environment. */
export function recordsOf(tokens: Record<string, HubUser>): TokenRecord[] {
  return Object.entries(tokens).map(([token, entry]) => ({ digest: tokenDigest(token), user: entry.user, admin: entry.admin === true }));
}

/** Written whole to a temporary file beside it, then renamed: a hub reloading it never reads half a file. */
export async function writeTokensFile(path: string, records: TokenRecord[]): Promise<void> {
  const json: Record<string, { user: string; admin?: true; created?: string }> = {};
  for (const record of records) {
    json[`sha256:${record.digest}`] = { user: record.user, ...(record.admin ? { admin: true as const } : {}), ...(record.created ? { created: record.created } : {}) };
  }
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(temporary, JSON.stringify(json, null, 2) + '\n', { mode: 0o600 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
