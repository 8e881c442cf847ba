// The hub's PostgreSQL schema, one entry a version, applied in order by migrate.ts. Kept as TypeScript (not .sql
// files) so the esbuild bundle carries them; never edit an entry that has shipped: add the next one.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
-- The hub's store of record (SPEC.md, "The hub beyond one machine"): users and token digests, the session HMAC
-- key, each session with what it published, the namespace change log replicas replay, and the usage ledger.
CREATE TABLE hub_users (
  name        text PRIMARY KEY,
  admin       boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hub_tokens (
  digest      text PRIMARY KEY,
  user_name   text NOT NULL REFERENCES hub_users (name) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hub_secrets (
  name   text PRIMARY KEY,
  value  bytea NOT NULL
);

-- One row per registrar session: its owner and, as registered, its rows and agents (a JSON document the
-- in-memory namespace of every replica is rebuilt from).
CREATE TABLE hub_sessions (
  id          text PRIMARY KEY,
  owner       text NOT NULL,
  published   jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hub_sessions_owner ON hub_sessions (owner);

-- Every change to the namespace, in order: a replica replays what it has not seen before it decides a register.
CREATE TABLE hub_namespace_log (
  version     bigserial PRIMARY KEY,
  session_id  text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hub_usage (
  id           bigserial PRIMARY KEY,
  at           timestamptz NOT NULL,
  caller       text NOT NULL,
  model        text NOT NULL,
  row_name     text,
  row_owner    text,
  tokens_in    integer NOT NULL DEFAULT 0,
  tokens_out   integer NOT NULL DEFAULT 0,
  duration_ms  integer NOT NULL,
  ttft_ms      integer,
  outcome      text NOT NULL
);
CREATE INDEX hub_usage_at ON hub_usage (at);
CREATE INDEX hub_usage_caller_at ON hub_usage (caller, at);
`,
  },
];
