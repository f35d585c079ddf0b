// Versioned schema migrations, applied at start in one transaction under an advisory lock, so that
// several instances starting together on a fresh database apply each version exactly once (the
// others wait for the lock, then find it applied).
import type pg from 'pg';
import { inTransaction } from './pool.js';

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'session log, snapshots, session heads',
    sql: `
      -- One row per session; its row lock serializes appends to the session across instances.
      -- head changes on every append and is not indexed, so updates are HOT; the free space left
      -- in each page keeps them there.
      CREATE TABLE sessions (
        session_id  text   PRIMARY KEY,
        head        bigint NOT NULL,              -- last sequence number appended
        created_at  bigint NOT NULL,              -- ms since the epoch
        updated_at  bigint NOT NULL
      ) WITH (fillfactor = 50);

      -- The ordered per-session log: one row per durable event, gap-free by construction.
      CREATE TABLE events (
        session_id        text   NOT NULL,
        seq               bigint NOT NULL,
        at                bigint NOT NULL,
        user_id           text   NOT NULL,
        client_id         text   NOT NULL,
        client_message_id text   NOT NULL,
        kind              text   NOT NULL,
        change            text   NOT NULL,        -- JSON of the engine's DurableChange
        PRIMARY KEY (session_id, seq)
      );

      -- Idempotent resends: the committed event of a user's client message. Also refuses a second
      -- commit of the same message by another instance (the store reports it as a conflict).
      CREATE UNIQUE INDEX events_by_origin ON events (session_id, user_id, client_id, client_message_id)
        WHERE client_message_id <> '';

      -- Periodic snapshots (files at their versions and comments) so that loading a session
      -- replays only the log after one. The newest few are kept.
      CREATE TABLE snapshots (
        session_id  text   NOT NULL,
        seq         bigint NOT NULL,
        state       text   NOT NULL,              -- JSON: { files, comments }
        PRIMARY KEY (session_id, seq)
      );
    `,
  },
];

// pg_advisory_xact_lock's key: any constant, unique among the advisory locks taken on the database.
const MIGRATION_LOCK = 0x4c52_4d47; // "LRMG"

/** Applies the missing migrations; returns the schema version. */
export async function migrate(pool: pg.Pool, timeoutMs: number): Promise<number> {
  return inTransaction(pool, 'BEGIN', async (client) => {
    // Waiting for another instance's migration may take longer than an ordinary statement.
    const ms = Math.max(1, Math.floor(timeoutMs));
    await client.query(`SET LOCAL statement_timeout = ${ms}`);
    await client.query({
      text: 'SELECT pg_advisory_xact_lock($1)',
      values: [MIGRATION_LOCK],
      query_timeout: ms + 1000, // pg's per-query override, missing from its type definitions
    } as pg.QueryConfig);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
    const applied = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        Date.now(),
      ]);
    }
    return Math.max(0, ...MIGRATIONS.map((m) => m.version));
  });
}
