// The hub's store of record on PostgreSQL (SPEC.md, "The hub beyond one machine"): the session HMAC key, each
// session with what it published, the ordered log of namespace changes that replicas replay, token digests, and
// the usage ledger (written in batches, never one commit per call on the caller's path).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { UsageEntry, UsageSummary } from '../usage.ts';
import { migrate } from './migrate.ts';

/** A session as the store keeps it: its owner and what it published, as the namespace exports it. */
export interface StoredSession {
  id: string;
  owner: string;
  published: unknown;
}

/** The lock every replica takes to change the namespace, so two registers never decide on stale views. */
const NAMESPACE_LOCK = 7_413_339_102;

export class PostgresStore {
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #usage: UsageEntry[] = [];
  readonly #flushTimer: NodeJS.Timeout;

  private constructor(pool: pg.Pool, logger: Logger, usageFlushMs: number) {
    this.#pool = pool;
    this.#logger = logger;
    this.#flushTimer = setInterval(() => void this.flushUsage(), usageFlushMs);
  }

  /** Connects, migrates the schema (safe when replicas start at once) and starts the usage writer. */
  static async open(options: { url: string; logger: Logger; usageFlushMs?: number }): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: options.url, max: 8, connectionTimeoutMillis: 2_000 });
    // An idle client whose server went away emits here; without a listener the process would crash.
    pool.on('error', (error) => options.logger.warn({ err: error.message }, 'postgres connection lost'));
    // A client checked out between two queries of a transaction emits its socket's error itself (the pool listens
    // only to idle ones): without this listener, a PostgreSQL killed at that moment would crash the replica.
    pool.on('connect', (client) => client.on('error', (error) => options.logger.warn({ err: error.message }, 'postgres connection lost mid-transaction')));
    await migrate(pool);
    return new PostgresStore(pool, options.logger, options.usageFlushMs ?? 1_000);
  }

  /** A secret the replicas share (the session HMAC key), created by whichever replica asks first. */
  async secret(name: string, bytes = 32): Promise<Buffer> {
    await this.#pool.query('INSERT INTO hub_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, randomBytes(bytes)]);
    const { rows } = await this.#pool.query<{ value: Buffer }>('SELECT value FROM hub_secrets WHERE name = $1', [name]);
    const value = rows[0]?.value;
    if (!value) throw new Error(`hub secret '${name}' missing after it was written`);
    return value;
  }

  /** Every session, with the log version they were read at: what a replica starts from. */
  async loadNamespace(): Promise<{ version: number; sessions: StoredSession[] }> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const version = await currentVersion(client);
      const { rows } = await client.query<StoredSession>('SELECT id, owner, published FROM hub_sessions');
      await client.query('COMMIT');
      return { version, sessions: rows };
    } finally {
      client.release();
    }
  }

  /** The sessions changed after `version`: each as stored now, or `published: null` when it was deleted. */
  async changesSince(version: number): Promise<{ version: number; sessions: (StoredSession | { id: string; published: null })[] }> {
    return this.#read((client) => changesSince(client, version));
  }

  /**
   * Changes the namespace under the replicas' one lock: `decide` gets the changes since `version` (so the replica
   * catches up before deciding), and returns the sessions to write and delete, or nothing to change.
   */
  async changeNamespace<T>(
    version: number,
    decide: (changes: { version: number; sessions: (StoredSession | { id: string; published: null })[] }) => { result: T; write: StoredSession[]; remove: string[] },
  ): Promise<{ result: T; version: number }> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [NAMESPACE_LOCK]);
      const changes = await changesSince(client, version);
      const { result, write, remove } = decide(changes);
      for (const session of write) {
        await client.query(
          'INSERT INTO hub_sessions (id, owner, published, updated_at) VALUES ($1, $2, $3, now()) ON CONFLICT (id) DO UPDATE SET published = EXCLUDED.published, updated_at = now()',
          [session.id, session.owner, JSON.stringify(session.published)],
        );
      }
      if (remove.length > 0) await client.query('DELETE FROM hub_sessions WHERE id = ANY($1)', [remove]);
      const touched = [...write.map((s) => s.id), ...remove];
      let next = changes.version;
      if (touched.length > 0) {
        const { rows } = await client.query<{ version: string }>('INSERT INTO hub_namespace_log (session_id) SELECT unnest($1::text[]) RETURNING version', [touched]);
        next = Math.max(next, ...rows.map((row) => Number(row.version)));
      }
      await client.query('COMMIT');
      return { result, version: next };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Queued; written with the next flush (a batch insert every `usageFlushMs`). */
  recordUsage(entry: UsageEntry): void {
    this.#usage.push(entry);
  }

  async flushUsage(): Promise<void> {
    if (this.#usage.length === 0) return;
    const batch = this.#usage.splice(0, 1_000);
    const columns = ['at', 'caller', 'model', 'row_name', 'row_owner', 'tokens_in', 'tokens_out', 'duration_ms', 'ttft_ms', 'outcome'];
    const values: unknown[] = [];
    const tuples = batch.map((entry, index) => {
      values.push(new Date(entry.at), entry.caller, entry.model, entry.row ?? null, entry.rowOwner ?? null, entry.tokensIn, entry.tokensOut, Math.round(entry.durationMs), entry.ttftMs === undefined ? null : Math.round(entry.ttftMs), entry.outcome);
      return `(${columns.map((_, column) => `$${index * columns.length + column + 1}`).join(', ')})`;
    });
    try {
      await this.#pool.query(`INSERT INTO hub_usage (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, values);
    } catch (error) {
      // PostgreSQL is away: keep the entries for the next flush, up to a bound, rather than lose them.
      this.#usage.unshift(...batch.slice(0, Math.max(0, 100_000 - this.#usage.length)));
      this.#logger.warn({ err: (error as Error).message, pending: this.#usage.length }, 'usage ledger write failed; retrying with the next flush');
    }
  }

  /** Calls and tokens since `since`, grouped by caller or model; `caller` limits it to one user's calls. */
  async usage(options: { since: number; by: 'user' | 'model'; caller?: string }): Promise<UsageSummary[]> {
    await this.flushUsage();
    const column = options.by === 'user' ? 'caller' : 'model';
    const { rows } = await this.#pool.query<{ key: string; calls: string; tokens_in: string; tokens_out: string; errors: string }>(
      `SELECT ${column} AS key, count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
              count(*) FILTER (WHERE outcome <> 'ok') AS errors
         FROM hub_usage WHERE at >= $1 AND ($2::text IS NULL OR caller = $2) GROUP BY 1 ORDER BY 2 DESC, 1`,
      [new Date(options.since), options.caller ?? null],
    );
    return rows.map((row) => ({ key: row.key, calls: Number(row.calls), tokensIn: Number(row.tokens_in), tokensOut: Number(row.tokens_out), errors: Number(row.errors) }));
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    await this.flushUsage();
    await this.#pool.end();
  }

  async #read<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      return await work(client);
    } finally {
      client.release();
    }
  }
}

async function currentVersion(client: pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ version: string | null }>('SELECT max(version) AS version FROM hub_namespace_log');
  return Number(rows[0]?.version ?? 0);
}

async function changesSince(client: pg.PoolClient, version: number): Promise<{ version: number; sessions: (StoredSession | { id: string; published: null })[] }> {
  const { rows } = await client.query<{ version: string; session_id: string; owner: string | null; published: unknown }>(
    `SELECT log.version, log.session_id, s.owner, s.published
       FROM (SELECT session_id, max(version) AS version FROM hub_namespace_log WHERE version > $1 GROUP BY session_id) log
       LEFT JOIN hub_sessions s ON s.id = log.session_id ORDER BY log.version`,
    [version],
  );
  const latest = rows.reduce((max, row) => Math.max(max, Number(row.version)), version);
  return {
    version: latest,
    sessions: rows.map((row) => (row.owner === null ? { id: row.session_id, published: null } : { id: row.session_id, owner: row.owner, published: row.published })),
  };
}
