import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/hub/state/migrate.ts';
import { migrations } from '../../src/hub/state/migrations.ts';
import { servicesMissing, startPostgres, type Service } from '../support/services.ts';

const missing = servicesMissing();
if (missing) console.warn(`skipped: ${missing}`);

describe.skipIf(missing !== undefined)('hub schema migrations', () => {
  let postgres: Service;
  beforeAll(async () => {
    postgres = await startPostgres();
  }, 30_000);
  afterAll(() => postgres?.destroy());

  it('applies every version once when two replicas start at once on an empty database', async () => {
    const pools = [new pg.Pool({ connectionString: postgres.url }), new pg.Pool({ connectionString: postgres.url })];
    try {
      const applied = await Promise.all(pools.map((pool) => migrate(pool)));
      expect(applied.flat().sort()).toEqual(migrations.map((m) => m.version));
      expect(await migrate(pools[0]!)).toEqual([]);
      const tables = await pools[0]!.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE tablename LIKE 'hub_%' ORDER BY 1");
      expect(tables.rows.map((row) => row.tablename)).toEqual(['hub_migrations', 'hub_namespace_log', 'hub_secrets', 'hub_sessions', 'hub_tokens', 'hub_usage', 'hub_users']);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('rolls back a migration that fails and says which one', async () => {
    const pool = new pg.Pool({ connectionString: postgres.url });
    try {
      await expect(migrate(pool, [...migrations, { version: 99, name: 'broken', sql: 'CREATE TABLE hub_x (a int); SELEC 1' }])).rejects.toThrow(/migration broken failed/);
      const tables = await pool.query("SELECT 1 FROM pg_tables WHERE tablename = 'hub_x'");
      expect(tables.rowCount).toBe(0);
    } finally {
      await pool.end();
    }
  });
});
