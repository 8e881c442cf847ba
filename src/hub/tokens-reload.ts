// Keeps a running hub's TokenTable in step with its tokens file: reloaded when the file changes (a watch on its
// folder, since `hub tokens` replaces the file by a rename) and on SIGHUP. A file that does not load keeps the old
// table in force, and the log says why.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { TokenTable } from './auth.ts';
import { loadTokensFile, type TokenRecord } from './tokens.ts';

/** Editors and `hub tokens` write a file in a few steps: one reload once they are done. */
const SETTLE_MS = 50;

export interface TokensReload {
  /** Loads the file again now; resolves once the table holds it (or the old one stays, logged). */
  reload(why: string): Promise<void>;
  close(): void;
}

function signature(records: TokenRecord[]): string {
  return records.map((record) => `${record.digest}:${record.user}:${record.admin}`).sort().join(',');
}

export function watchTokensFile(options: { file: string; table: TokenTable; fixed: TokenRecord[]; initial: TokenRecord[]; logger: Logger }): TokensReload {
  const { file, table, fixed, logger } = options;
  let current = signature(options.initial);
  let digests = new Set(options.initial.map((record) => record.digest));
  let running: Promise<void> = Promise.resolve();
  const load = async (why: string) => {
    try {
      const loaded = await loadTokensFile(file);
      const next = signature(loaded.records);
      if (next === current) {
        logger.debug({ file, why }, 'tokens file unchanged');
        return;
      }
      const after = new Set(loaded.records.map((record) => record.digest));
      const added = [...after].filter((digest) => !digests.has(digest)).length;
      const removed = [...digests].filter((digest) => !after.has(digest)).length;
      table.replace([...fixed, ...loaded.records]);
      current = next;
      digests = after;
      const users = new Set(loaded.records.map((record) => record.user)).size;
      logger.info(
        { file, why, tokens: loaded.records.length, users, added, removed },
        `tokens file reloaded (${why}): ${loaded.records.length} tokens for ${users} users (${added} added, ${removed} removed)`,
      );
      if (loaded.clearText > 0) logger.warn({ file }, `tokens file keeps ${loaded.clearText} tokens in clear: \`llm-registrar hub tokens migrate --tokens-file ${file}\` stores their hashes instead`);
    } catch (error) {
      logger.error({ file, why }, `tokens file not reloaded, the tokens loaded before stay in force: ${(error as Error).message}`);
    }
  };
  const reload = (why: string) => (running = running.then(() => load(why)));

  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), (_event, name) => {
      if (name !== null && name !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload('file changed'), SETTLE_MS);
    });
    watcher.on('error', (error) => logger.warn({ file }, `tokens file no longer watched (${error.message}): send SIGHUP to reload it`));
  } catch (error) {
    logger.warn({ file }, `tokens file not watched (${(error as Error).message}): send SIGHUP to reload it`);
  }
  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
