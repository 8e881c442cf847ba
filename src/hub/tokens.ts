// The hub's tokens file: JSON `{ "<token>": { "user": "...", "admin"?: true } }`. Problems are named by entry
// number and user, never by the token itself (the key), so an error message is safe to paste anywhere.
import { readFile } from 'node:fs/promises';
import type { HubUser } from './auth.ts';

export async function loadTokensFile(path: string): Promise<Record<string, HubUser>> {
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
    throw new Error(`tokens file ${path}: not valid JSON (expected {"<token>": {"user": "name", "admin"?: true}})`);
  }
  return parseTokens(json, `tokens file ${path}`);
}

export function parseTokens(json: unknown, source: string): Record<string, HubUser> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: expected an object {"<token>": {"user": "name", "admin"?: true}}`);
  }
  const entries = Object.entries(json);
  if (entries.length === 0) throw new Error(`${source}: no tokens in it, so nobody could use the hub`);
  const problems: string[] = [];
  const tokens: Record<string, HubUser> = Object.create(null) as Record<string, HubUser>;
  entries.forEach(([token, value], index) => {
    const entry = value as { user?: unknown; admin?: unknown } | null;
    const user = typeof entry === 'object' && entry !== null && typeof entry.user === 'string' ? entry.user : undefined;
    const where = `entry ${index + 1}${user ? ` (user '${user}')` : ''}`;
    if (token.trim() === '' || /\s/.test(token)) problems.push(`${where}: the token is empty or contains whitespace`);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected {"user": "name", "admin"?: true}`);
      return;
    }
    if (user === undefined || user.trim() === '') problems.push(`${where}: "user" must be a non-empty string`);
    if (entry.admin !== undefined && typeof entry.admin !== 'boolean') problems.push(`${where}: "admin" must be true or false`);
    if (user) tokens[token] = entry.admin === true ? { user, admin: true } : { user };
  });
  if (problems.length > 0) throw new Error(`${source}: ${problems.join('; ')}`);
  return { ...tokens };
}
