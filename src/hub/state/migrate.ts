// Versioned schema migrations for the hub's PostgreSQL store: each entry of migrations.ts runs once, in order,
// in its own transaction, under an advisory lock so replicas starting at once on an empty database do not race
// (graphile-worker's migrate.ts does the same).
import type { Pool } from 'pg';
import { migrations as shipped, type Migration } from './migrations.ts';

/** Any constant both replicas agree on: the lock that serializes migrations. */
const MIGRATION_LOCK = 7_413_339_101;

/** Brings the schema up to date; returns the versions it applied (none when another replica already did). */
export async function migrate(pool: Pool, pending: readonly Migration[] = shipped): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS hub_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM hub_migrations')).rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of pending) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO hub_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`);
      }
      applied.push(migration.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}
