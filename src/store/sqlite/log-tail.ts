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
// Until copied, the store answers reads of tail events through memory (`TailEvents`): where each
// session's events are in the tail (row ids, read back by id), and which rows carry a client
// message id. A tail left by a process that stopped without closing is copied at start; rows both
// copied and still in the tail (a stop between the two steps) are copied once.
//
// A commit does not ask `events` whether a client message id is already there: the engine has
// (core/dedupe.ts: its window, else `findByOrigin`), and that lookup in `events_by_origin` cost more
// than the insert (docs/benchmarks.md, "2026-12-06"). The origin index still holds when the rows are
// copied: should a row's id already be in `events` (a dedupe bug), the copy keeps the row without
// its id rather than leave a gap in the session's sequence numbers, and reports it.
import type { Database, Statement } from 'better-sqlite3';
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

/** An event whose client message id another event of its session already carried: it is in the
 * session log without the id (its sequence number must not go missing). */
export interface KeptDuplicate {
  sessionId: string;
  seq: number;
  clientId: string;
  clientMessageId: string;
}

/** The columns of `events` and `event_tail`, in their order. */
export const LOG_COLUMNS = 'session_id, seq, at, user_id, client_id, client_message_id, kind, change';

/** Copies the tail's rows up to `upTo` (a row id) into the session log, once each, and raises the
 * sessions' heads; on a connection with the tail attached, which must make it durable before the
 * rows are deleted from the tail. Returns the rows kept without their client message id. */
export function copyTail(db: Database, upTo: number): KeptDuplicate[] {
  return db.transaction(() => {
    const now = Date.now();
    let duplicates: KeptDuplicate[] = [];
    try {
      // Rows already in the log (copied before a stop, still in the tail) are skipped; any other
      // conflict, a client message id already in the log, fails the statement and nothing of it.
      db.prepare(
        `INSERT INTO main.events (${LOG_COLUMNS})
         SELECT ${LOG_COLUMNS} FROM tail.event_tail WHERE rowid <= ? ORDER BY session_id, seq
         ON CONFLICT (session_id, seq) DO NOTHING`,
      ).run(upTo);
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
      duplicates = copyRowByRow(db, upTo);
    }
    db.prepare(
      `INSERT INTO main.sessions (session_id, head, created_at, updated_at)
         SELECT session_id, MAX(seq), ?, ? FROM tail.event_tail WHERE rowid <= ? GROUP BY session_id
       ON CONFLICT (session_id) DO UPDATE
         SET head = MAX(head, excluded.head), updated_at = excluded.updated_at`,
    ).run(now, now, upTo);
    return duplicates;
  })();
}

/** The copy, a row at a time (see insertKeepingSequence). */
function copyRowByRow(db: Database, upTo: number): KeptDuplicate[] {
  const insert = insertIntoLog(db, 'main.events');
  const rows = db
    .prepare<[number], unknown[]>(
      `SELECT ${LOG_COLUMNS} FROM tail.event_tail WHERE rowid <= ? ORDER BY session_id, seq`,
    )
    .raw()
    .all(upTo);
  const duplicates: KeptDuplicate[] = [];
  for (const row of rows) {
    const kept = insertKeepingSequence(insert, row);
    if (kept) duplicates.push(kept);
  }
  return duplicates;
}

/** Inserts a row into the session log, skipping one already there by sequence number (a copy
 * interrupted by a stop); `table`: the log as the connection names it. */
function insertIntoLog(db: Database, table: 'main.events' | 'events'): Statement<unknown[]> {
  return db.prepare(
    `INSERT INTO ${table} (${LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (session_id, seq) DO NOTHING`,
  );
}

/** Inserts a row (its values in LOG_COLUMNS' order) into the session log, unless it is there
 * already. A row whose client message id another event of its session carries goes in without it
 * (its sequence number must not go missing), and is returned. */
function insertKeepingSequence(insert: Statement<unknown[]>, row: unknown[]): KeptDuplicate | undefined {
  try {
    insert.run(row);
    return undefined;
  } catch (err) {
    if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
  }
  const [sessionId, seq, at, userId, clientId, clientMessageId, kind, change] = row;
  insert.run(sessionId, seq, at, userId, clientId, '', kind, change);
  return {
    sessionId: sessionId as string,
    seq: seq as number,
    clientId: clientId as string,
    clientMessageId: clientMessageId as string,
  };
}

/** The largest row id in the tail (0: empty). */
export function lastTailRow(db: Database): number {
  return (
    (db.prepare('SELECT MAX(rowid) AS last FROM tail.event_tail').get() as { last: number | null }).last ?? 0
  );
}

/** One session's events in a generation: where they are in `event_tail`. The events themselves
 * stay there, not in memory: kept a second or two until copied, each event's change (its op, its
 * line text) outlived two scavenges and went to the old generation, a third of what the typing load
 * promoted there (docs/benchmarks.md, "2026-12-05"). Reading them back (a catch-up within the last
 * second, a resend's ack) is a lookup by row id. */
interface SessionTail {
  /** The sequence number of the first; the others follow it without gaps. */
  readonly first: number;
  /** Their row ids in `event_tail`, in sequence order. */
  readonly rowIds: number[];
  /** Client message id -> the row id(s) carrying it (usually one). */
  readonly byMessageId: Map<string, number | number[]>;
}

/** Adds a row id to what carries a client message id (one row id, or several). */
function addRow(byMessageId: Map<string, number | number[]>, id: string, rowId: number): void {
  const same = byMessageId.get(id);
  if (same === undefined) byMessageId.set(id, rowId);
  else if (typeof same === 'number') byMessageId.set(id, [same, rowId]);
  else same.push(rowId);
}

/** Events committed to the tail since some point, by session. */
class Generation {
  readonly sessions = new Map<string, SessionTail>();
  size = 0;

  add(sessionId: string, events: readonly LoggedEvent[], rowIds: readonly number[]): void {
    if (events.length === 0) return;
    let tail = this.sessions.get(sessionId);
    if (!tail) {
      tail = { first: events[0]!.seq, rowIds: [], byMessageId: new Map() };
      this.sessions.set(sessionId, tail);
    }
    for (let i = 0; i < events.length; i++) {
      const rowId = rowIds[i]!;
      tail.rowIds.push(rowId);
      const id = events[i]!.origin.clientMessageId;
      if (id) addRow(tail.byMessageId, id, rowId);
    }
    this.size += events.length;
  }

  /** Row ids of the session's events carrying this client message id (any client). */
  withMessageId(sessionId: string, clientMessageId: string): number | readonly number[] | undefined {
    return this.sessions.get(sessionId)?.byMessageId.get(clientMessageId);
  }

  /** Forgets the session's last events (their transaction rolled back). */
  remove(sessionId: string, events: readonly LoggedEvent[]): void {
    const tail = this.sessions.get(sessionId);
    if (!tail) return;
    for (let i = events.length - 1; i >= 0; i--) {
      const rowId = tail.rowIds.pop();
      const id = events[i]!.origin.clientMessageId;
      const same = id ? tail.byMessageId.get(id) : undefined;
      if (same === undefined || rowId === undefined) continue;
      if (typeof same === 'number') tail.byMessageId.delete(id);
      else {
        same.splice(same.lastIndexOf(rowId), 1);
        if (same.length === 1) tail.byMessageId.set(id, same[0]!);
      }
    }
    if (tail.rowIds.length === 0) this.sessions.delete(sessionId);
    this.size -= events.length;
  }

  /** Takes in a newer generation's events (each session's newer than its own here). */
  append(newer: Generation): void {
    for (const [sessionId, from] of newer.sessions) {
      const into = this.sessions.get(sessionId);
      if (!into) {
        this.sessions.set(sessionId, from);
        continue;
      }
      for (const rowId of from.rowIds) into.rowIds.push(rowId);
      for (const [id, rows] of from.byMessageId) {
        if (typeof rows === 'number') addRow(into.byMessageId, id, rows);
        else for (const rowId of rows) addRow(into.byMessageId, id, rowId);
      }
    }
    this.size += newer.size;
  }
}

/** Reads one row of `event_tail` by its row id. */
export type TailRowReader = (rowId: number) => LogRow | undefined;

/**
 * Where the tail's committed events are, in memory, in two generations: those being copied into
 * `events` (sealed when the copy was asked for) and those committed since. A generation is dropped
 * whole once copied, rather than emptied entry by entry (V8 rebuilds long-lived maps that churn in
 * its old generation). The events are read back from `event_tail` (see SessionTail).
 */
export class TailEvents {
  private current = new Generation();
  private sealed: Generation | undefined;

  constructor(private readonly readRow: TailRowReader) {}

  /** Events held. */
  get size(): number {
    return this.current.size + (this.sealed?.size ?? 0);
  }

  /** Records events of one session that its transaction has just added to the tail as `rowIds`. */
  add(sessionId: string, events: readonly LoggedEvent[], rowIds: readonly number[]): void {
    this.current.add(sessionId, events, rowIds);
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
    sealed.append(this.current);
    this.current = sealed;
  }

  /** A resend the dedupe window cannot vouch for (`findByOrigin`): a map lookup, and a row read
   * for each tail event of the session that carries the same message id. */
  findByOrigin(sessionId: string, origin: Origin): LoggedEvent | undefined {
    return (
      (this.sealed && this.findIn(this.sealed, sessionId, origin)) ??
      this.findIn(this.current, sessionId, origin)
    );
  }

  private findIn(g: Generation, sessionId: string, origin: Origin): LoggedEvent | undefined {
    const rows = g.withMessageId(sessionId, origin.clientMessageId);
    if (rows === undefined) return undefined;
    for (const rowId of typeof rows === 'number' ? [rows] : rows) {
      const row = this.readRow(rowId);
      if (
        row &&
        row.client_message_id === origin.clientMessageId &&
        row.client_id === origin.clientId &&
        row.user_id === origin.userId
      )
        return rowToEvent(row);
    }
    return undefined;
  }

  /** The session's tail events with seq > afterSeq, in order, at most `limit`. */
  after(sessionId: string, afterSeq: number, limit = Infinity): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    for (const g of [this.sealed, this.current]) {
      const tail = g?.sessions.get(sessionId);
      if (!tail) continue;
      const { first, rowIds } = tail;
      for (let i = Math.max(0, afterSeq - first + 1); i < rowIds.length && out.length < limit; i++) {
        const row = this.readRow(rowIds[i]!);
        if (!row) throw new Error(`the tail lost event ${first + i} of session ${sessionId}`);
        out.push(rowToEvent(row));
      }
    }
    return out;
  }

  /** The lowest sequence number in the session's tail, if it has any. */
  first(sessionId: string): number | undefined {
    return (this.sealed?.sessions.get(sessionId) ?? this.current.sessions.get(sessionId))?.first;
  }

  /** The highest sequence number in the session's tail, if it has any. */
  head(sessionId: string): number | undefined {
    const tail = this.current.sessions.get(sessionId) ?? this.sealed?.sessions.get(sessionId);
    return tail && tail.first + tail.rowIds.length - 1;
  }
}

/** A logged event from its row in the session log or the tail. */
export function rowToEvent(r: LogRow): LoggedEvent {
  return Object.freeze({
    sessionId: r.session_id,
    seq: r.seq,
    at: r.at,
    origin: { userId: r.user_id, clientId: r.client_id, clientMessageId: r.client_message_id },
    change: JSON.parse(r.change) as LoggedEvent['change'],
  });
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
  return db.prepare(`SELECT ${LOG_COLUMNS} FROM ${schema}.event_tail ORDER BY rowid`).all() as LogRow[];
}

/**
 * Makes a backup of the main database file whole: adds the tail's rows read *before* the backup
 * began. Every row is then in one or the other: one deleted from the tail since was copied into the
 * main file before, so the backup has it. The copies are prefixes of the commit order, so each
 * session's log stays gap-free. A snapshot of events the backup does not hold (committed after the
 * tail was read and not copied in time) is dropped: loading replays from an older one. Returns
 * the rows kept without their client message id (see copyTail).
 */
export function mergeTail(backup: Database, rows: readonly LogRow[]): KeptDuplicate[] {
  return backup.transaction(() => {
    const insert = insertIntoLog(backup, 'events');
    const raise = backup.prepare(
      `INSERT INTO sessions (session_id, head, created_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET head = MAX(head, excluded.head), updated_at = excluded.updated_at`,
    );
    const duplicates: KeptDuplicate[] = [];
    for (const r of rows) {
      const row = [r.session_id, r.seq, r.at, r.user_id, r.client_id, r.client_message_id, r.kind, r.change];
      const kept = insertKeepingSequence(insert, row);
      if (kept) duplicates.push(kept);
      raise.run(r.session_id, r.seq, r.at, r.at);
    }
    backup.exec(
      `DELETE FROM snapshots WHERE seq >
         COALESCE((SELECT head FROM sessions WHERE sessions.session_id = snapshots.session_id), 0)`,
    );
    return duplicates;
  })();
}
