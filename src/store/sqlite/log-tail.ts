// The log's tail: where the durable store commits, and how its rows reach the session log.
//
// `events` is clustered by session, and so is its origin index: a commit of ~13 events from 13
// sessions (the typing load) dirtied two leaf pages per session, each written whole to the
// write-ahead log and flushed: ~36 pages (147 KB) per commit, 46 MB/s for 2,400 events/s of ~300
// bytes. Under that load the flush (fdatasync) took 1.7-2.2 ms at the median instead of 0.25 ms,
// and every append waits for one (docs/benchmarks.md, "2026-12-03, evening: the durable store
// wrote 36 pages per commit; now a page or two").
//
// So a commit appends to `event_tail`, a table in insertion order without an index, in a database
// file of its own (TAIL_FILE): a commit dirties its last page or two. About once a second the
// checkpoint worker copies what the tail held into `events`, in one transaction on the main file
// that syncs before it returns; each session's leaves are written once for all the events they
// gained. The tail being another file, that transaction never holds the store's commits (SQLite has
// one writer per database file). Then the store deletes the copied rows from the tail.
//
// Until copied, the store answers reads of tail events from memory (`TailEvents`): the events
// themselves, by session and by client message id (which also keeps resends unique, as the origin
// index does for `events`). A tail left by a process that stopped without closing is copied at
// start; rows both copied and still in the tail (a stop between the two steps) are copied once.
import type { Database } from 'better-sqlite3';
import type { LoggedEvent, Origin } from '../../core/model.js';

/** The tail's database file, beside DATABASE_FILE, attached to the store's connection as `tail`. */
export const TAIL_FILE = 'livereview-tail.db';

/** Creates the tail's tables in the attached database `tail` if they are not there. */
export function createTail(db: Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS tail.event_tail (
      session_id        TEXT    NOT NULL,
      seq               INTEGER NOT NULL,
      at                INTEGER NOT NULL,
      user_id           TEXT    NOT NULL,
      client_id         TEXT    NOT NULL,
      client_message_id TEXT    NOT NULL,
      kind              TEXT    NOT NULL,
      change            TEXT    NOT NULL
    );
    -- The row the checkpoint worker writes to start the tail's write-ahead log over.
    CREATE TABLE IF NOT EXISTS tail.log_restarts (
      id  INTEGER PRIMARY KEY CHECK (id = 1),
      at  INTEGER NOT NULL
    );
  `);
}

/** Copies the tail's rows up to `upTo` (a row id) into the session log, once each, and raises the
 * sessions' heads; on a connection with the tail attached, which must make it durable before the
 * rows are deleted from the tail. Returns the rows copied. */
export function copyTail(db: Database, upTo: number): number {
  return db.transaction(() => {
    const now = Date.now();
    const { changes } = db
      .prepare(
        `INSERT OR IGNORE INTO main.events
           (session_id, seq, at, user_id, client_id, client_message_id, kind, change)
         SELECT session_id, seq, at, user_id, client_id, client_message_id, kind, change
           FROM tail.event_tail WHERE rowid <= ? ORDER BY session_id, seq`,
      )
      .run(upTo);
    db.prepare(
      `INSERT INTO main.sessions (session_id, head, created_at, updated_at)
         SELECT session_id, MAX(seq), ?, ? FROM tail.event_tail WHERE rowid <= ? GROUP BY session_id
       ON CONFLICT (session_id) DO UPDATE
         SET head = MAX(head, excluded.head), updated_at = excluded.updated_at`,
    ).run(now, now, upTo);
    return changes;
  })();
}

/** The largest row id in the tail (0: empty). */
export function lastTailRow(db: Database): number {
  return (
    (db.prepare('SELECT MAX(rowid) AS last FROM tail.event_tail').get() as { last: number | null }).last ?? 0
  );
}

interface SessionTail {
  /** In sequence order; all newer than the session's rows in `events`. */
  readonly events: LoggedEvent[];
  /** Client message id -> the events carrying it (usually one). */
  readonly byMessageId: Map<string, LoggedEvent[]>;
}

const sameOrigin = (a: Origin, b: Origin) =>
  a.clientMessageId === b.clientMessageId && a.clientId === b.clientId && a.userId === b.userId;

/** Events committed to the tail since some point, by session. */
class Generation {
  readonly sessions = new Map<string, SessionTail>();
  size = 0;

  add(sessionId: string, events: readonly LoggedEvent[]): void {
    let tail = this.sessions.get(sessionId);
    if (!tail) this.sessions.set(sessionId, (tail = { events: [], byMessageId: new Map() }));
    for (const e of events) {
      tail.events.push(e);
      const id = e.origin.clientMessageId;
      if (!id) continue;
      const same = tail.byMessageId.get(id);
      if (same) same.push(e);
      else tail.byMessageId.set(id, [e]);
    }
    this.size += events.length;
  }

  findByOrigin(sessionId: string, origin: Origin): LoggedEvent | undefined {
    const same = this.sessions.get(sessionId)?.byMessageId.get(origin.clientMessageId);
    if (!same) return undefined;
    for (const e of same) if (sameOrigin(e.origin, origin)) return e;
    return undefined;
  }

  remove(sessionId: string, events: readonly LoggedEvent[]): void {
    const tail = this.sessions.get(sessionId);
    if (!tail) return;
    for (const e of events) {
      const id = e.origin.clientMessageId;
      const same = id ? tail.byMessageId.get(id) : undefined;
      if (!same) continue;
      same.splice(same.lastIndexOf(e), 1);
      if (same.length === 0) tail.byMessageId.delete(id);
    }
    tail.events.length -= events.length;
    if (tail.events.length === 0) this.sessions.delete(sessionId);
    this.size -= events.length;
  }
}

/**
 * The tail's committed events, in memory, in two generations: those being copied into `events`
 * (sealed when the copy was asked for) and those committed since. A generation is dropped whole
 * once copied, rather than emptied entry by entry (V8 rebuilds long-lived maps that churn in its
 * old generation).
 */
export class TailEvents {
  private current = new Generation();
  private sealed: Generation | undefined;

  /** Events held in memory. */
  get size(): number {
    return this.current.size + (this.sealed?.size ?? 0);
  }

  /** Records events of one session that its transaction has just added to the tail. */
  add(sessionId: string, events: readonly LoggedEvent[]): void {
    this.current.add(sessionId, events);
  }

  /** Forgets events just added (their transaction rolled back). */
  remove(sessionId: string, events: readonly LoggedEvent[]): void {
    this.current.remove(sessionId, events);
  }

  /** A copy of everything committed so far is starting. */
  seal(): void {
    if (this.sealed) throw new Error('the tail is already being copied');
    this.sealed = this.current;
    this.current = new Generation();
  }

  /** The sealed events are in `events` now (or the copy failed: `copied` false keeps them). */
  unseal(copied: boolean): void {
    const sealed = this.sealed;
    this.sealed = undefined;
    if (copied || !sealed) return;
    // Not copied: still the oldest tail events of their sessions.
    const newer = this.current;
    this.current = sealed;
    for (const [sessionId, tail] of newer.sessions) this.current.add(sessionId, tail.events);
  }

  /** Asked for every appended event with a client message id: no allocation. */
  findByOrigin(sessionId: string, origin: Origin): LoggedEvent | undefined {
    return this.sealed?.findByOrigin(sessionId, origin) ?? this.current.findByOrigin(sessionId, origin);
  }

  /** The session's tail events with seq > afterSeq, in order. */
  after(sessionId: string, afterSeq: number): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    for (const g of [this.sealed, this.current]) {
      const events = g?.sessions.get(sessionId)?.events;
      if (!events) continue;
      const first = events[0]!.seq;
      for (let i = Math.max(0, afterSeq - first + 1); i < events.length; i++) out.push(events[i]!);
    }
    return out;
  }

  /** The lowest sequence number in the session's tail, if it has any. */
  first(sessionId: string): number | undefined {
    return (this.sealed?.sessions.get(sessionId) ?? this.current.sessions.get(sessionId))?.events[0]?.seq;
  }

  /** The highest sequence number in the session's tail, if it has any. */
  head(sessionId: string): number | undefined {
    return (this.current.sessions.get(sessionId) ?? this.sealed?.sessions.get(sessionId))?.events.at(-1)?.seq;
  }
}

/** A row of the session log or of its tail (the same columns). */
export interface LogRow {
  session_id: string;
  seq: number;
  at: number;
  user_id: string;
  client_id: string;
  client_message_id: string;
  kind: string;
  change: string;
}

/** Every row of the tail, in commit order (`schema`: where the tail database is attached). */
export function readTail(db: Database, schema: 'main' | 'tail' = 'tail'): LogRow[] {
  return db
    .prepare(
      `SELECT session_id, seq, at, user_id, client_id, client_message_id, kind, change
         FROM ${schema}.event_tail ORDER BY rowid`,
    )
    .all() as LogRow[];
}

/**
 * Makes a backup of the main database file whole: adds the tail's rows read *before* the backup
 * began. Every row is then in one or the other: one deleted from the tail since was copied into the
 * main file before, so the backup has it. The copies are prefixes of the commit order, so each
 * session's log stays gap-free. A snapshot of events the backup does not hold (committed after the
 * tail was read and not copied in time) is dropped: loading replays from an older one.
 */
export function mergeTail(backup: Database, rows: readonly LogRow[]): void {
  backup.transaction(() => {
    const insert = backup.prepare(
      `INSERT OR IGNORE INTO events (session_id, seq, at, user_id, client_id, client_message_id, kind, change)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const raise = backup.prepare(
      `INSERT INTO sessions (session_id, head, created_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET head = MAX(head, excluded.head), updated_at = excluded.updated_at`,
    );
    for (const r of rows) {
      insert.run(r.session_id, r.seq, r.at, r.user_id, r.client_id, r.client_message_id, r.kind, r.change);
      raise.run(r.session_id, r.seq, r.at, r.at);
    }
    backup.exec(
      `DELETE FROM snapshots WHERE seq >
         COALESCE((SELECT head FROM sessions WHERE sessions.session_id = snapshots.session_id), 0)`,
    );
  })();
}
