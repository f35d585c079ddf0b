// The embedded durable Store: one SQLite database (better-sqlite3, WAL) in the data directory.
//
// "Acknowledged" means durable: append() resolves only after its transaction has committed, with
// synchronous=FULL by default (an fsync per commit: durable across power loss; NORMAL is durable
// across a process crash only). Appends that arrive in the same tick — from any sessions — share one
// transaction (group commit): one fsync for all of them. A process lock file in the data directory
// makes a second server on the same directory fail at start with a clear message.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { LoggedEvent, Origin } from '../../core/model.js';
import type { AppendResult, LoadedSession, SessionSnapshot, Store } from '../../core/store.js';
import { migrate } from './migrations.js';

export interface SqliteStoreOptions {
  /** 'full' (default): fsync at every commit; 'normal': durable across a process crash only. */
  synchronous?: 'full' | 'normal';
  /** Share one transaction among appends that arrive together (default true). */
  groupCommit?: boolean;
  /** Events kept per session behind its newest snapshot; older ones are pruned (0: keep all). */
  retainEvents?: number;
  /** Snapshots kept per session. */
  keepSnapshots?: number;
}

interface EventRow {
  session_id: string;
  seq: number;
  at: number;
  user_id: string;
  client_id: string;
  client_message_id: string;
  change: string;
}

interface PendingAppend {
  sessionId: string;
  expectedHead: number;
  events: readonly LoggedEvent[];
  resolve(r: AppendResult): void;
  reject(err: unknown): void;
}

export const DATABASE_FILE = 'livereview.db';
const LOCK_FILE = 'livereview.lock';

function rowToEvent(r: EventRow): LoggedEvent {
  return Object.freeze({
    sessionId: r.session_id,
    seq: r.seq,
    at: r.at,
    origin: { userId: r.user_id, clientId: r.client_id, clientMessageId: r.client_message_id },
    change: JSON.parse(r.change) as LoggedEvent['change'],
  });
}

/** Takes the data directory's lock, or explains who holds it. */
function lockDirectory(dir: string): string {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      let alive = false;
      try {
        if (pid > 0) {
          process.kill(pid, 0);
          alive = pid !== process.pid;
        }
      } catch {
        alive = false;
      }
      if (alive) {
        throw new Error(
          `data directory ${dir} is in use by process ${pid} (${path}); one server per directory`,
        );
      }
      rmSync(path, { force: true }); // stale: its process is gone (e.g. killed)
    }
  }
  throw new Error(`could not lock data directory ${dir}`);
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly lockPath: string | undefined;
  private readonly options: Required<SqliteStoreOptions>;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly stmt;

  /** Opens (creating if needed) the database in `dir`, or an in-memory one for ':memory:'. */
  constructor(dir: string, options: SqliteStoreOptions = {}) {
    this.options = {
      synchronous: options.synchronous ?? 'full',
      groupCommit: options.groupCommit ?? true,
      retainEvents: options.retainEvents ?? 0,
      keepSnapshots: options.keepSnapshots ?? 3,
    };
    let file = ':memory:';
    if (dir !== ':memory:') {
      mkdirSync(dir, { recursive: true });
      this.lockPath = lockDirectory(dir);
      file = join(dir, DATABASE_FILE);
    }
    try {
      this.db = new Database(file, { timeout: 5000 });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${this.options.synchronous.toUpperCase()}`);
      this.db.pragma('foreign_keys = ON');
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      migrate(this.db);
    } catch (err) {
      this.releaseLock();
      const e = err as Error & { code?: string };
      throw new Error(
        `cannot open the database ${file}: ${e.message}${e.code ? ` (${e.code})` : ''}. ` +
          'If the file is corrupt, restore it from a backup (see the README, "Backup and restore").',
      );
    }
    const db = this.db;
    this.stmt = {
      head: db.prepare<[string], { head: number }>('SELECT head FROM sessions WHERE session_id = ?'),
      upsertSession: db.prepare(
        `INSERT INTO sessions (session_id, head, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (session_id) DO UPDATE SET head = excluded.head, updated_at = excluded.updated_at`,
      ),
      insertEvent: db.prepare(
        `INSERT INTO events (session_id, seq, at, user_id, client_id, client_message_id, kind, change)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      eventsAfter: db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      allEventsAfter: db.prepare<[string, number], EventRow>(
        'SELECT * FROM events WHERE session_id = ? AND seq > ? ORDER BY seq',
      ),
      byOrigin: db.prepare<[string, string, string, string], EventRow>(
        // Repeats the partial index's condition: without it SQLite cannot prove a bound parameter
        // is non-empty, ignores events_by_origin and scans the session's log.
        `SELECT * FROM events WHERE session_id = ? AND client_id = ? AND client_message_id = ?
           AND user_id = ? AND client_message_id <> ''`,
      ),
      snapshots: db.prepare<[string], { seq: number; state: string }>(
        'SELECT seq, state FROM snapshots WHERE session_id = ? ORDER BY seq',
      ),
      insertSnapshot: db.prepare('INSERT OR IGNORE INTO snapshots (session_id, seq, state) VALUES (?, ?, ?)'),
      pruneSnapshots: db.prepare(
        `DELETE FROM snapshots WHERE session_id = ? AND seq NOT IN
           (SELECT seq FROM snapshots WHERE session_id = ? ORDER BY seq DESC LIMIT ?)`,
      ),
      pruneEvents: db.prepare('DELETE FROM events WHERE session_id = ? AND seq <= ?'),
      firstSeq: db.prepare<[string], { first: number | null }>(
        'SELECT MIN(seq) AS first FROM events WHERE session_id = ?',
      ),
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async load(sessionId: string, keepTail: number): Promise<LoadedSession | undefined> {
    this.checkOpen();
    const head = this.stmt.head.get(sessionId)?.head;
    const snapshots = this.stmt.snapshots.all(sessionId);
    if (head === undefined && snapshots.length === 0) return undefined;
    let chosen: { seq: number; state: string } | undefined;
    for (const s of snapshots) if (s.seq <= (head ?? 0) - keepTail || !chosen) chosen = s;
    // Never pick a snapshot whose tail was pruned: the newest one always has its tail.
    const first = this.stmt.firstSeq.get(sessionId)?.first;
    if (chosen && first != null && chosen.seq + 1 < first) chosen = snapshots.at(-1);
    if (!chosen && first != null && first > 1) {
      throw new Error(`session ${sessionId}: log starts at ${first} and no snapshot covers what was pruned`);
    }
    const snapshot: SessionSnapshot | undefined = chosen && {
      seq: chosen.seq,
      ...(JSON.parse(chosen.state) as Omit<SessionSnapshot, 'seq'>),
    };
    const events = this.stmt.allEventsAfter.all(sessionId, snapshot?.seq ?? 0).map(rowToEvent);
    return { snapshot, events };
  }

  append(sessionId: string, expectedHead: number, events: readonly LoggedEvent[]): Promise<AppendResult> {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      this.pending.push({ sessionId, expectedHead, events, resolve, reject });
      if (!this.options.groupCommit) {
        this.flush();
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending append in one transaction; each gets its own result. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const results: AppendResult[] = [];
    try {
      this.db.transaction(() => {
        const heads = new Map<string, number>();
        for (const a of batch) {
          const head = heads.get(a.sessionId) ?? this.stmt.head.get(a.sessionId)?.head ?? 0;
          if (head !== a.expectedHead) {
            results.push({ ok: false, head });
            continue;
          }
          const now = Date.now();
          a.events.forEach((e, i) => {
            if (e.seq !== a.expectedHead + i + 1)
              throw new Error(`append: seq ${e.seq} is not ${a.expectedHead + i + 1}`);
            this.stmt.insertEvent.run(
              a.sessionId,
              e.seq,
              e.at,
              e.origin.userId,
              e.origin.clientId,
              e.origin.clientMessageId,
              e.change.kind,
              JSON.stringify(e.change),
            );
          });
          const newHead = a.expectedHead + a.events.length;
          this.stmt.upsertSession.run(a.sessionId, newHead, now, now);
          heads.set(a.sessionId, newHead);
          results.push({ ok: true });
        }
      })();
    } catch (err) {
      // Nothing of this transaction was written: every append in it fails (and is retried by its
      // client under the same message id).
      for (const a of batch) a.reject(err);
      return;
    }
    batch.forEach((a, i) => a.resolve(results[i]!));
  }

  async readEvents(sessionId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
    this.checkOpen();
    return this.stmt.eventsAfter.all(sessionId, afterSeq, limit).map(rowToEvent);
  }

  async findByOrigin(sessionId: string, origin: Origin) {
    this.checkOpen();
    const row = this.stmt.byOrigin.get(sessionId, origin.clientId, origin.clientMessageId, origin.userId);
    return row && rowToEvent(row);
  }

  async heads(sessionIds: readonly string[]): Promise<Map<string, number>> {
    this.checkOpen();
    return new Map(sessionIds.map((id) => [id, this.stmt.head.get(id)?.head ?? 0]));
  }

  async saveSnapshot(sessionId: string, snapshot: SessionSnapshot): Promise<void> {
    this.checkOpen();
    const { seq, ...state } = snapshot;
    this.db.transaction(() => {
      this.stmt.insertSnapshot.run(sessionId, seq, JSON.stringify(state));
      this.stmt.pruneSnapshots.run(sessionId, sessionId, this.options.keepSnapshots);
      if (this.options.retainEvents > 0) {
        const oldest = this.stmt.snapshots.get(sessionId)?.seq ?? 0;
        this.stmt.pruneEvents.run(sessionId, Math.min(oldest, seq - this.options.retainEvents));
      }
    })();
  }

  async firstRetainedSeq(sessionId: string): Promise<number> {
    this.checkOpen();
    return this.stmt.firstSeq.get(sessionId)?.first ?? (this.stmt.head.get(sessionId)?.head ?? 0) + 1;
  }

  /** An online, consistent copy of the database (SQLite backup API) while the server runs. */
  async backup(destination: string): Promise<void> {
    this.checkOpen();
    await this.db.backup(destination);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
    this.releaseLock();
  }

  private releaseLock(): void {
    if (this.lockPath && existsSync(this.lockPath)) rmSync(this.lockPath, { force: true });
  }
}
