// Session ids the hub can verify (SPEC.md, "One namespace, owned"): a random part and an HMAC over owner and that
// part, keyed by a secret in the hub's state dir, so an id keeps its owner across hub restarts and nobody else can use it.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

const KEY_FILE = 'session-key';
const KEY_BYTES = 32;

export class SessionIds {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 16) throw new Error('a session key must be at least 16 bytes');
    this.#key = key;
  }

  /** A new id for `user`: base64url random part, a dot, base64url MAC (safe in a header, 66 characters). */
  issue(user: string): string {
    const random = randomBytes(16).toString('base64url');
    return `${random}.${this.#mac(user, random)}`;
  }

  /** True when this hub (or one with the same key) issued `id` to `user`. */
  belongsTo(id: string, user: string): boolean {
    const dot = id.indexOf('.');
    if (dot <= 0) return false;
    const random = id.slice(0, dot);
    const given = Buffer.from(id.slice(dot + 1));
    const expected = Buffer.from(this.#mac(user, random));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #mac(user: string, random: string): string {
    // JSON keeps the two parts apart whatever a user name holds.
    return createHmac('sha256', this.#key).update(JSON.stringify([user, random])).digest('base64url');
  }
}

/** What a log line, a page or an error may show of a session id: the registrar's own rule (src/redact.ts). */
export { shortSessionId as shortId } from '../redact.ts';

/** `$XDG_STATE_HOME/llm-registrar-hub`, else `~/.local/state/llm-registrar-hub`. */
export function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'llm-registrar-hub');
}

/**
 * The hub's session key: read from `<stateDir>/session-key`, or created there on first start (dir 0700, file 0600).
 * Two hubs starting at once on one dir agree on one key: the file appears whole, by a hard link, or not at all.
 */
export async function loadSessionKey(stateDir: string): Promise<{ key: Buffer; created: boolean; loosened: boolean }> {
  const path = join(stateDir, KEY_FILE);
  await mkdir(stateDir, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`hub state dir ${stateDir}: cannot create it (${error.code ?? error.message}): pass --state-dir DIR (a directory the hub may write)`);
  });
  let created = false;
  let text = await readKeyFile(path);
  if (text === undefined) {
    const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(temporary, `${randomBytes(KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      await link(temporary, path);
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`hub state dir ${stateDir}: cannot write ${KEY_FILE} (${(error as NodeJS.ErrnoException).code})`);
    } finally {
      await unlink(temporary).catch(() => {});
    }
    text = await readKeyFile(path);
  }
  const hex = text?.trim() ?? '';
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new Error(`${path} is not a session key (64 hex digits): delete it to make a new one (every registrar then registers afresh)`);
  }
  // A key others can read lets them forge session ids: tighten it rather than refuse to start.
  const mode = (await stat(path)).mode & 0o777;
  const loosened = (mode & 0o077) !== 0;
  if (loosened) await chmod(path, 0o600);
  return { key: Buffer.from(hex, 'hex'), created, loosened };
}

async function readKeyFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot read the hub's session key (${(error as NodeJS.ErrnoException).code})`);
  }
}
