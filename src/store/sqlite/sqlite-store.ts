// The embedded durable Store: one SQLite database (better-sqlite3, WAL) in the data directory.
//
// "Acknowledged" means durable: append() resolves only after its transaction has committed and,
// at synchronous 'full' (the default), after the write-ahead log holding it has been flushed to
// stable storage (durable across power loss; 'normal' is durable across a process crash only).
// Appends that arrive together — from any sessions — share one transaction (group commit), made once
// the event loop has read what arrived with them (core/settled-turns.ts).
//
// The flush (fdatasync of the WAL file) runs on libuv's thread pool, not in the event loop: SQLite
// writes the transaction's frames with synchronous=NORMAL (no fsync of its own), then the store
// syncs the WAL file and only then resolves the appends it holds. While one flush is in flight the
// next transactions commit and wait for the next flush, which covers all of them. Measured under
// the typing load (docs/benchmarks.md, 2026-12-02): the commit's fsync held the event loop for
// 84 % of the store's time there (p99 16 ms, stalls of 600 ms behind other processes' I/O), and
// every stream waited behind it. Until its flush, a committed event is invisible to every read of
// this store (readEvents, findByOrigin, heads, load): nothing is shown before it is durable.
//
// In that mode the store's connection never checkpoints: a worker thread copies the log into the
// database file (wal-checkpointer.ts), since SQLite's automatic checkpoint copies ~1,000 pages
// and syncs twice with the event loop blocked. And in that mode commits append to the log's tail,
// a small database file of its own, which that worker copies into the session log about once a
// second (log-tail.ts): a commit writes a page or two to its log instead of two per session.
//
// A process lock file in the data directory makes a second server on the same directory fail at
// start with a clear message.
import {
  closeSync,
  existsSync,
  fdatasync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { LoggedEvent, Origin } from '../../core/model.js';
import { whenSettled } from '../../core/settled-turns.js';
import type { AppendResult, LoadedSession, SessionSnapshot, Store } from '../../core/store.js';
import {
  copyTail,
  createTail,
  lastTailRow,
  LOG_COLUMNS,
  mergeTail,
  readTail,
  rowToEvent,
  TAIL_FILE,
  TailEvents,
  type KeptDuplicate,
  type LogRow,
} from './log-tail.js';
import { migrate } from './migrations.js';
import { DEFAULT_CHECKPOINT_INTERVAL_MS, WalCheckpointer, type TailCopyOutcome } from './wal-checkpointer.js';

export interface SqliteStoreOptions {
  /** 'full' (default): fsync at every commit; 'normal': durable across a process crash only. */
  synchronous?: 'full' | 'normal';
  /** Share one transaction among appends that arrive together (default true). */
  groupCommit?: boolean;
  /** Events kept per session behind its newest snapshot; older ones are pruned (0: keep all). */
  retainEvents?: number;
  /** Snapshots kept per session. */
  keepSnapshots?: number;
  /** Makes the WAL file durable (default: fdatasync on libuv's thread pool). Tests delay it or make
   * it fail; a failure fails the appends it covers and every later one (see SqliteStore.failed). */
  syncWal?: (fd: number) => Promise<void>;
  /** When the WAL flush runs off the loop, a worker thread checkpoints the log at most this often
   * (default 250 ms; see wal-checkpointer.ts). */
  checkpointIntervalMs?: number;
  /** When commits go to the log's tail, the worker copies it into the session log at most this
   * often (default 1 s; log-tail.ts). */
  tailCopyIntervalMs?: number;
  /** Frames in the tail's log at which a checkpoint holds commits to start it over (default
   * RESTART_AT_FRAMES; wal-checkpointer.ts). */
  restartAtFrames?: number;
  /** Nice value of the checkpoint worker's thread (default BACKGROUND_NICE; 0: the process's own;
   * background-priority.ts). */
  checkpointNice?: number;
  /** Told how long each WAL flush and each checkpoint's hold on commits took (metrics). */
  observer?: SqliteStoreObserver;
}

/** What the store's disk costs its appends, for metrics: under load the flush, not the commit,
 * is most of an append's time (docs/benchmarks.md, "2026-12-03, evening: the durable store
 * wrote 36 pages per commit; now a page or two"). */
export interface SqliteStoreObserver {
  /** A WAL flush (fdatasync) completed after `seconds`. */
  walFlushed(seconds: number): void;
  /** Commits were held for `seconds` while the checkpoint worker finished a checkpoint. */
  commitsHeld(seconds: number): void;
  /** Copying the tail into the session log failed (its rows stay in the tail; the next copy
   * takes them). */
  tailCopyFailed?(message: string): void;
  /** Events whose client message id was already in their session's log: kept without it (the
   * engine lets no resend through twice, so this is a bug; see log-tail.ts). */
  duplicatesKept?(duplicates: readonly KeptDuplicate[]): void;
}

interface PendingAppend {
  sessionId: string;
  expectedHead: number;
  events: readonly LoggedEvent[];
  resolve(r: AppendResult): void;
  reject(err: unknown): void;
}

/** How far a session's log is committed, and how far durable (equal: nothing is waiting). */
interface SyncMark {
  durable: number;
  committed: number;
}
/** Fewest sessions' sync marks kept before a flush sweeps out those with nothing waiting. */
const MIN_MARKS_SWEEP = 4096;

/** An append whose transaction has committed, waiting for the WAL flush that makes it durable. */
interface CommittedAppend {
  append: PendingAppend;
  result: AppendResult;
}

const fdatasyncOnPool = (fd: number) =>
  new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));

export const DATABASE_FILE = 'livereview.db';
const MAX_IDLE_LOG_BYTES = 64 * 1024 * 1024;
const PAGE_CACHE_KIB = 64 * 1024;
const LOCK_FILE = 'livereview.lock';
/** How often the worker copies the tail into the session log. Longer: fewer pages written per event
 * copied (each session's leaves once per copy), more events held in memory meanwhile. */
const TAIL_COPY_INTERVAL_MS = 1000;
/** Tail events in memory at which a copy starts before the interval is up. */
const TAIL_COPY_AT_EVENTS = 5_000;

/** Opens the database's WAL file for flushing, after making its directory entry durable (SQLite
 * creates it when the database is first opened in WAL mode). */
function openWal(file: string, dir: string): number {
  const fd = openSync(`${file}-wal`, 'r');
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  return fd;
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
  private readonly options: Required<
    Omit<
      SqliteStoreOptions,
      | 'syncWal'
      | 'checkpointIntervalMs'
      | 'observer'
      | 'tailCopyIntervalMs'
      | 'restartAtFrames'
      | 'checkpointNice'
    >
  >;
  private readonly tailCopyIntervalMs: number;
  private readonly observer: SqliteStoreObserver | undefined;
  /** Checkpoints off the loop, with the WAL flush (undefined: SQLite's automatic checkpoint). */
  private checkpointer: WalCheckpointer | undefined;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly stmt;
  /** writeBatch in a transaction: built once, since better-sqlite3 builds a transaction function's
   * wrappers (and defines their properties) each time one is made. */
  private readonly commitBatch: (...batch: Parameters<SqliteStore['writeBatch']>) => void;
  /** The WAL file's descriptor when its flush runs off the event loop (a file database at 'full'
   * with group commit); undefined: SQLite syncs inside the commit itself, or nothing syncs. */
  private walFd: number | undefined;
  private readonly syncWal: (fd: number) => Promise<void>;
  /** Committed, waiting for the next flush. */
  private awaitingSync: CommittedAppend[] = [];
  /** The flush in flight, if any (close() waits for it). */
  private syncing: Promise<void> | undefined;
  /** Per session this store has committed to: how far the log is committed and how far durable.
   * Reads stop at the durable head. The records stay and are updated in place (dropped in sweeps
   * once there are many): adding and deleting a session's entry with every flush made V8 rebuild
   * the map's table in the old generation (docs/benchmarks.md, "2026-12-03, afternoon: the p99 was the major
   * collections"). */
  private readonly syncMarks = new Map<string, SyncMark>();
  /** syncMarks' size at which the next flush drops the records with nothing waiting. */
  private sweepMarksAt = MIN_MARKS_SWEEP;
  /** A WAL flush failed: nothing written since is known durable, so every append fails from then
   * on (the page cache may have dropped what it could not write; PostgreSQL stops the same way). */
  failed: Error | undefined;
  /** Commits append to the log's tail (when the WAL flush runs off the loop; log-tail.ts). */
  private readonly tail: TailEvents | undefined;
  /** The last row id committed to the tail. */
  private lastTailRowId = 0;
  private lastTailCopyAt = performance.now();
  /** The tail's rows up to this row id are being copied (and then to be deleted from it). */
  private tailCopyUpTo = 0;
  /** Copied into the session log: deleted from the tail by the next commit. */
  private tailDeleteUpTo = 0;
  /** Sessions pruned (retainEvents) through these sequence numbers since the tail was last copied. */
  private pruneFloors = new Map<string, number>();
  /** Waiting for the worker's copy of the tail to end before writing the main database file. */
  private afterTailCopy: (() => void)[] = [];

  /** Opens (creating if needed) the database in `dir`, or an in-memory one for ':memory:'. */
  constructor(dir: string, options: SqliteStoreOptions = {}) {
    this.options = {
      synchronous: options.synchronous ?? 'full',
      groupCommit: options.groupCommit ?? true,
      retainEvents: options.retainEvents ?? 0,
      keepSnapshots: options.keepSnapshots ?? 3,
    };
    this.syncWal = options.syncWal ?? fdatasyncOnPool;
    this.observer = options.observer;
    this.tailCopyIntervalMs = options.tailCopyIntervalMs ?? TAIL_COPY_INTERVAL_MS;
    const flushOffLoop =
      dir !== ':memory:' && this.options.synchronous === 'full' && this.options.groupCommit;
    let file = ':memory:';
    if (dir !== ':memory:') {
      mkdirSync(dir, { recursive: true });
      this.lockPath = lockDirectory(dir);
      file = join(dir, DATABASE_FILE);
    }
    try {
      this.db = new Database(file, { timeout: 5000 });
      this.db.pragma('journal_mode = WAL');
      // Off the loop, the store syncs the WAL itself after each commit (see the top of the file);
      // at NORMAL SQLite still syncs around checkpoints and WAL restarts, which keeps the file
      // consistent whatever is lost with the power.
      this.db.pragma(`synchronous = ${flushOffLoop ? 'NORMAL' : this.options.synchronous.toUpperCase()}`);
      this.db.pragma('foreign_keys = ON');
      // SQLite's default page cache (2 MiB) is smaller than the pages a busy server touches (each
      // session's leaf of the log and of its index, the tree above them): every commit read some
      // back from the file. The cache grows only as pages are used. Typing load, two rounds of 3
      // alternating runs: p50 5.4-5.7 -> 5.0-5.4 ms, CPU per delivery on a shared channel ~3 %
      // lower, peak RSS unchanged (docs/benchmarks.md).
      this.db.pragma(`cache_size = ${-PAGE_CACHE_KIB}`);
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      migrate(this.db);
      // A tail left by a process that stopped without closing (or by a server in another mode).
      const tailFile = dir === ':memory:' ? undefined : join(dir, TAIL_FILE);
      if (tailFile && (flushOffLoop || existsSync(tailFile))) {
        this.db.prepare('ATTACH DATABASE ? AS tail').run(tailFile);
        this.db.pragma('tail.journal_mode = WAL');
        this.db.pragma('tail.synchronous = NORMAL');
        createTail(this.db);
        this.copyTailHere();
        if (!flushOffLoop) this.db.exec('DETACH DATABASE tail');
      }
      if (flushOffLoop && tailFile) {
        this.tail = new TailEvents((rowId): LogRow | undefined => this.stmt.tailRow!.get(rowId));
        this.db.pragma('wal_autocheckpoint = 0');
        // A log grown past this in a burst is cut back to it when it starts over.
        this.db.pragma(`main.journal_size_limit = ${MAX_IDLE_LOG_BYTES}`);
        this.db.pragma(`tail.journal_size_limit = ${MAX_IDLE_LOG_BYTES}`);
        this.walFd = openWal(tailFile, dir);
        this.checkpointer = new WalCheckpointer(
          file,
          tailFile,
          options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
          (heldMs) => {
            this.observer?.commitsHeld(heldMs / 1000);
            this.scheduleFlush();
          },
          MAX_IDLE_LOG_BYTES,
          (outcome) => this.tailCopied(outcome),
          options.restartAtFrames,
          options.checkpointNice,
        );
      }
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
        `INSERT INTO ${this.tail ? 'tail.event_tail' : 'main.events'} (${LOG_COLUMNS})
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deleteTail: this.tail && db.prepare('DELETE FROM tail.event_tail WHERE rowid <= ?'),
      tailRow:
        this.tail &&
        db.prepare<[number], LogRow>(`SELECT ${LOG_COLUMNS} FROM tail.event_tail WHERE rowid = ?`),
      eventsAfter: db.prepare<[string, number, number], LogRow>(
        'SELECT * FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      allEventsAfter: db.prepare<[string, number], LogRow>(
        'SELECT * FROM events WHERE session_id = ? AND seq > ? ORDER BY seq',
      ),
      byOrigin: db.prepare<[string, string, string, string], LogRow>(
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
    this.commitBatch = db.transaction(this.writeBatch.bind(this));
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async load(sessionId: string, keepTail: number): Promise<LoadedSession | undefined> {
    this.checkOpen();
    const limitSeq = this.durableLimit(sessionId);
    const head = limitSeq ?? this.committedHead(sessionId);
    const snapshots = this.stmt.snapshots.all(sessionId);
    // No durable event (no row, or only events still waiting for their flush) and no snapshot.
    if (!head && snapshots.length === 0) return undefined;
    let chosen: { seq: number; state: string } | undefined;
    for (const s of snapshots) if (s.seq <= (head ?? 0) - keepTail || !chosen) chosen = s;
    // Never pick a snapshot whose tail was pruned: the newest one always has its tail.
    const first = this.firstSeq(sessionId);
    if (chosen && first != null && chosen.seq + 1 < first) chosen = snapshots.at(-1);
    if (!chosen && first != null && first > 1) {
      throw new Error(`session ${sessionId}: log starts at ${first} and no snapshot covers what was pruned`);
    }
    const snapshot: SessionSnapshot | undefined = chosen && {
      seq: chosen.seq,
      ...(JSON.parse(chosen.state) as Omit<SessionSnapshot, 'seq'>),
    };
    const afterSeq = snapshot?.seq ?? 0;
    const events = this.durableEvents(sessionId, this.stmt.allEventsAfter.all(sessionId, afterSeq), afterSeq);
    return { snapshot, events };
  }

  append(sessionId: string, expectedHead: number, events: readonly LoggedEvent[]): Promise<AppendResult> {
    this.checkOpen();
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.pending.push({ sessionId, expectedHead, events, resolve, reject });
      if (!this.options.groupCommit) this.flush();
      // Committed at once even while a WAL flush is in flight: the next flush starts the moment
      // that one completes, with nothing left to write first.
      else this.scheduleFlush();
    });
  }

  /** Commits what is pending once the event loop has read what arrived with it, so that appends
   * arriving together (from any sessions) share one transaction (core/settled-turns.ts). */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    whenSettled(
      () => this.pending.length,
      () => this.flush(),
    );
  }

  /** Commits every pending append in one transaction; each gets its own result. */
  private flush(): void {
    this.flushScheduled = false;
    // The checkpointer is copying the log's last frames: commit once it is done (it resumes us).
    if (this.checkpointer?.holding && !this.closed) return;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0 && this.tailDeleteUpTo === 0) return;
    const results: AppendResult[] = [];
    /** Appends added to the tail in this transaction (forgotten again should it roll back). */
    const tailed: PendingAppend[] = [];
    const tailDeleteUpTo = this.tailDeleteUpTo;
    const lastTailRowId = this.lastTailRowId;
    try {
      this.commitBatch(batch, results, tailed, tailDeleteUpTo);
    } catch (err) {
      // Nothing of this transaction was written: every append in it fails (and is retried by its
      // client under the same message id).
      for (const a of tailed.reverse()) this.tail!.remove(a.sessionId, a.events);
      // Row ids of rows rolled back are given again: never copy or delete by them.
      this.lastTailRowId = lastTailRowId;
      for (const a of batch) a.reject(err);
      return;
    }
    this.tailDeleteUpTo = 0;
    if (this.walFd === undefined) {
      batch.forEach((a, i) => a.resolve(results[i]!));
      return;
    }
    if (this.checkpointer?.committed()) {
      // The worker failed: the store checkpoints and copies the tail itself, as it would have.
      this.db.pragma('tail.wal_checkpoint(PASSIVE)');
      this.copyTailHere();
      this.db.pragma('main.wal_checkpoint(PASSIVE)');
    } else this.maybeCopyTail();
    batch.forEach((append, i) => {
      const result = results[i]!;
      if (result.ok) {
        const last = append.expectedHead + append.events.length;
        const mark = this.syncMarks.get(append.sessionId);
        // Nothing was waiting: everything up to this append's start is durable.
        if (!mark) this.syncMarks.set(append.sessionId, { durable: append.expectedHead, committed: last });
        else {
          if (mark.committed <= mark.durable) mark.durable = append.expectedHead;
          mark.committed = last;
        }
      }
      this.awaitingSync.push({ append, result });
    });
    this.startSync();
  }

  /** Writes a batch of appends, in the transaction `commitBatch` wraps it in: each append's result
   * into `results`, the appends added to the tail into `tailed`. */
  private writeBatch(
    batch: readonly PendingAppend[],
    results: AppendResult[],
    tailed: PendingAppend[],
    tailDeleteUpTo: number,
  ): void {
    // Rows the worker has copied into the session log (see tailCopied).
    if (tailDeleteUpTo > 0) this.stmt.deleteTail!.run(tailDeleteUpTo);
    const heads = new Map<string, number>();
    for (const a of batch) {
      const head = heads.get(a.sessionId) ?? this.committedHead(a.sessionId);
      if (head !== a.expectedHead) {
        results.push({ ok: false, head });
        continue;
      }
      const now = Date.now();
      const rowIds: number[] | undefined = this.tail && [];
      for (let i = 0; i < a.events.length; i++) {
        const e = a.events[i]!;
        if (e.seq !== a.expectedHead + i + 1)
          throw new Error(`append: seq ${e.seq} is not ${a.expectedHead + i + 1}`);
        const { lastInsertRowid } = this.stmt.insertEvent.run(
          a.sessionId,
          e.seq,
          e.at,
          e.origin.userId,
          e.origin.clientId,
          e.origin.clientMessageId,
          e.change.kind,
          JSON.stringify(e.change),
        );
        this.lastTailRowId = Number(lastInsertRowid);
        rowIds?.push(this.lastTailRowId);
      }
      const newHead = a.expectedHead + a.events.length;
      // The tail's heads are in memory until the worker copies it (and raises `sessions`).
      if (this.tail) {
        this.tail.add(a.sessionId, a.events, rowIds!);
        tailed.push(a);
      } else this.stmt.upsertSession.run(a.sessionId, newHead, now, now);
      heads.set(a.sessionId, newHead);
      results.push({ ok: true });
    }
  }

  /** Asks the worker to copy the tail into the session log, once a second (or sooner when the tail
   * holds many events), one copy at a time. */
  private maybeCopyTail(): void {
    const worker = this.checkpointer;
    if (!this.tail || !worker || this.tail.size === 0 || !worker.canCopyTail) return;
    const now = performance.now();
    if (now - this.lastTailCopyAt < this.tailCopyIntervalMs && this.tail.size < TAIL_COPY_AT_EVENTS) return;
    this.lastTailCopyAt = now;
    this.tailCopyUpTo = this.lastTailRowId;
    this.tail.seal();
    worker.copyTail(this.tailCopyUpTo);
  }

  /** The worker's copy of the tail is done: the copied rows leave the tail with the next commit
   * (when it failed, they stay and the next copy takes them). */
  private tailCopied(outcome: TailCopyOutcome): void {
    this.tail?.unseal(outcome.copied);
    const waiting = this.afterTailCopy;
    this.afterTailCopy = [];
    for (const go of waiting) go();
    if (!outcome.copied) {
      if (outcome.error !== undefined) this.observer?.tailCopyFailed?.(outcome.error);
      return;
    }
    this.reportDuplicates(outcome.duplicates);
    if (this.closed) return;
    if (this.pruneFloors.size > 0) {
      for (const [sessionId, through] of this.pruneFloors) this.stmt.pruneEvents.run(sessionId, through);
      this.pruneFloors = new Map();
    }
    this.tailDeleteUpTo = Math.max(this.tailDeleteUpTo, this.tailCopyUpTo);
    this.scheduleFlush();
  }

  private reportDuplicates(duplicates: readonly KeptDuplicate[]): void {
    if (duplicates.length > 0) this.observer?.duplicatesKept?.(duplicates);
  }

  /** Copies the whole tail into the session log on the store's own connection: at start, at close,
   * and when the worker has failed. */
  private copyTailHere(): void {
    if (this.checkpointer?.isCopyingTail) return;
    const upTo = lastTailRow(this.db);
    if (upTo === 0) return;
    // Durable in the session log before the rows leave the tail.
    const synchronous = this.db.pragma('main.synchronous', { simple: true }) as number;
    this.db.pragma('main.synchronous = FULL');
    try {
      this.reportDuplicates(copyTail(this.db, upTo));
    } finally {
      this.db.pragma(`main.synchronous = ${synchronous}`);
    }
    this.db.prepare('DELETE FROM tail.event_tail WHERE rowid <= ?').run(upTo);
    this.tailDeleteUpTo = 0;
    if (this.tail) {
      this.tail.seal();
      this.tail.unseal(true);
    }
  }

  /** Flushes the WAL for everything committed and not yet durable, unless a flush is in flight.
   * What commits during a flush (one transaction per turn of the event loop, across sessions)
   * waits for it to complete and is then flushed together: one flush per round whatever the
   * number of sessions, and a commit never waits for more than the flush in flight before its
   * own. */
  private startSync(): void {
    if (this.syncing || this.awaitingSync.length === 0 || this.walFd === undefined) return;
    const round = this.awaitingSync;
    this.awaitingSync = [];
    const startedAt = performance.now();
    this.syncing = this.syncWal(this.walFd).then(
      () => {
        this.syncing = undefined;
        this.observer?.walFlushed((performance.now() - startedAt) / 1000);
        this.madeDurable(round);
        for (const c of round) c.append.resolve(c.result);
        this.startSync();
      },
      (err: unknown) => {
        this.syncing = undefined;
        this.failed = new Error(`the write-ahead log could not be flushed: ${(err as Error).message}`, {
          cause: err,
        });
        const committed = [...round, ...this.awaitingSync].map((c) => c.append);
        const waiting = [...committed, ...this.pending];
        this.awaitingSync = [];
        this.pending = [];
        for (const a of waiting) a.reject(this.failed);
      },
    );
  }

  /** The appends of a completed flush are durable: reads may return them. */
  private madeDurable(round: readonly CommittedAppend[]): void {
    for (const { append, result } of round) {
      if (!result.ok) continue;
      const mark = this.syncMarks.get(append.sessionId)!;
      mark.durable = Math.max(mark.durable, append.expectedHead + append.events.length);
    }
    if (this.syncMarks.size < this.sweepMarksAt) return;
    for (const [sessionId, mark] of this.syncMarks)
      if (mark.committed <= mark.durable) this.syncMarks.delete(sessionId);
    this.sweepMarksAt = Math.max(MIN_MARKS_SWEEP, 2 * this.syncMarks.size);
  }

  /** The last durable sequence number of a session, when it has committed events that are not
   * durable yet (reads stop there); undefined otherwise. */
  private durableLimit(sessionId: string): number | undefined {
    const mark = this.syncMarks.get(sessionId);
    return mark && mark.committed > mark.durable ? mark.durable : undefined;
  }

  async readEvents(sessionId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
    this.checkOpen();
    return this.durableEvents(
      sessionId,
      this.stmt.eventsAfter.all(sessionId, afterSeq, limit),
      afterSeq,
      limit,
    );
  }

  /** The session's durable events after `afterSeq`, at most `limit`: `rows` read from the session
   * log, then what follows them in the tail. */
  private durableEvents(
    sessionId: string,
    rows: LogRow[],
    afterSeq: number,
    limit = Infinity,
  ): LoggedEvent[] {
    const events = rows.map(rowToEvent);
    if (this.tail && events.length < limit) {
      // The tail's events are newer than the log's, except those being copied (in both then).
      const more = this.tail.after(sessionId, events.at(-1)?.seq ?? afterSeq, limit - events.length);
      for (const e of more) events.push(e);
    }
    const limitSeq = this.durableLimit(sessionId) ?? Infinity;
    const floor = this.pruneFloors.get(sessionId) ?? 0;
    return limitSeq === Infinity && floor === 0
      ? events
      : events.filter((e) => e.seq <= limitSeq && e.seq > floor);
  }

  async findByOrigin(sessionId: string, origin: Origin) {
    this.checkOpen();
    const inTail = this.tail?.findByOrigin(sessionId, origin);
    const row = inTail
      ? undefined
      : this.stmt.byOrigin.get(sessionId, origin.clientId, origin.clientMessageId, origin.userId);
    const event = inTail ?? (row && rowToEvent(row));
    const limitSeq = this.durableLimit(sessionId);
    if (!event || (limitSeq !== undefined && event.seq > limitSeq)) return undefined;
    return event;
  }

  /** The last committed sequence number of a session, durable or not (0: none). */
  private committedHead(sessionId: string): number {
    return this.tail?.head(sessionId) ?? this.stmt.head.get(sessionId)?.head ?? 0;
  }

  /** The lowest sequence number kept of a session, committed or not. */
  private firstSeq(sessionId: string): number | undefined {
    const first = this.stmt.firstSeq.get(sessionId)?.first ?? this.tail?.first(sessionId);
    const floor = this.pruneFloors.get(sessionId);
    return floor !== undefined && first != null && first <= floor ? floor + 1 : first;
  }

  async heads(sessionIds: readonly string[]): Promise<Map<string, number>> {
    this.checkOpen();
    return new Map(sessionIds.map((id) => [id, this.headOf(id)]));
  }

  /** The last durable sequence number of a session (0: none). */
  private headOf(sessionId: string): number {
    return this.durableLimit(sessionId) ?? this.committedHead(sessionId);
  }

  async saveSnapshot(sessionId: string, snapshot: SessionSnapshot): Promise<void> {
    this.checkOpen();
    // The worker is writing the main file: this transaction would wait for it with the event loop
    // blocked.
    while (this.checkpointer?.isCopyingTail) await new Promise<void>((go) => this.afterTailCopy.push(go));
    this.checkOpen();
    const { seq, ...state } = snapshot;
    this.db.transaction(() => {
      this.stmt.insertSnapshot.run(sessionId, seq, JSON.stringify(state));
      this.stmt.pruneSnapshots.run(sessionId, sessionId, this.options.keepSnapshots);
      if (this.options.retainEvents > 0) {
        const oldest = this.stmt.snapshots.get(sessionId)?.seq ?? 0;
        const through = Math.min(oldest, seq - this.options.retainEvents);
        this.stmt.pruneEvents.run(sessionId, through);
        // The tail is not pruned: its events that old are left out of reads, and pruned from the
        // session log again once copied there.
        if (this.tail)
          this.pruneFloors.set(sessionId, Math.max(through, this.pruneFloors.get(sessionId) ?? 0));
      }
    })();
  }

  async firstRetainedSeq(sessionId: string): Promise<number> {
    this.checkOpen();
    const head = this.headOf(sessionId);
    const first = this.firstSeq(sessionId);
    return first == null || first > head ? head + 1 : first;
  }

  /** An online, consistent copy of the database (SQLite backup API) while the server runs. */
  async backup(destination: string): Promise<void> {
    this.checkOpen();
    // The tail first: see mergeTail.
    const tail = this.tail && readTail(this.db);
    await this.db.backup(destination);
    if (!tail) return;
    const copy = new Database(destination);
    try {
      mergeTail(copy, tail);
    } finally {
      copy.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.checkpointer?.close();
    // What was appended before close() is acknowledged once durable: let the flushes finish.
    await this.flushesDone();
    this.closed = true;
    this.flush();
    await this.flushesDone();
    if (this.tail) {
      try {
        this.copyTailHere();
      } catch {
        // Left in the tail, which the next start copies.
      }
    }
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.db.close();
    this.releaseLock();
  }

  /** Resolves once no WAL flush is in flight (a completing flush may start the next one). */
  private async flushesDone(): Promise<void> {
    while (this.syncing) await this.syncing.catch(() => undefined);
  }

  private releaseLock(): void {
    if (this.lockPath && existsSync(this.lockPath)) rmSync(this.lockPath, { force: true });
  }
}
