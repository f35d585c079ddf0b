// Versioned schema migrations, applied in order at start inside one transaction each; applying
// them again is a no-op (the version is recorded in schema_migrations).
import type { Database } from 'better-sqlite3';

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'session log, snapshots, session metadata',
    sql: `
      CREATE TABLE sessions (
        session_id  TEXT PRIMARY KEY,
        head        INTEGER NOT NULL,           -- last sequence number appended
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- The ordered per-session log: one row per durable event, gap-free by construction.
      CREATE TABLE events (
        session_id        TEXT    NOT NULL,
        seq               INTEGER NOT NULL,
        at                INTEGER NOT NULL,
        user_id           TEXT    NOT NULL,
        client_id         TEXT    NOT NULL,
        client_message_id TEXT    NOT NULL,
        kind              TEXT    NOT NULL,
        change            TEXT    NOT NULL,     -- JSON of the engine's DurableChange
        PRIMARY KEY (session_id, seq)
      ) WITHOUT ROWID;

      -- Idempotent resends: the committed event of a (client, message id).
      CREATE UNIQUE INDEX events_by_origin ON events (session_id, client_id, client_message_id)
        WHERE client_message_id <> '';

      -- Periodic snapshots (files at their versions and comments), so loading a session replays
      -- only the log after one. The newest few are kept.
      CREATE TABLE snapshots (
        session_id  TEXT    NOT NULL,
        seq         INTEGER NOT NULL,
        state       TEXT    NOT NULL,           -- JSON: { files, comments }
        PRIMARY KEY (session_id, seq)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'idempotent resends are scoped by user as well',
    // The dedupe key is (user, client, message id): without the user, another user reusing a
    // client's ids made that client's next message fail its unique index on every retry (and the
    // group commit it shared with everyone else's appends).
    sql: `
      DROP INDEX events_by_origin;
      CREATE UNIQUE INDEX events_by_origin ON events (session_id, client_id, client_message_id, user_id)
        WHERE client_message_id <> '';
    `,
  },
  {
    version: 3,
    name: 'a row the checkpoint worker writes to start the write-ahead log over',
    // See wal-checkpoint-worker.ts: whichever connection writes first after a complete checkpoint
    // starts the log over and syncs its header; the worker does it, not the store's thread.
    sql: `
      CREATE TABLE log_restarts (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        at  INTEGER NOT NULL                    -- when the worker last started the log over
      );
    `,
  },
];

export function migrate(db: Database): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    })();
  }
  return Math.max(0, ...MIGRATIONS.map((m) => m.version));
}
