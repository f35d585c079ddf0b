// The storage interface of the engine: an ordered per-session log plus periodic snapshots.
// Implementations: src/store/memory (the reference), SQLite and PostgreSQL later. All pass the
// conformance suite in test/store-conformance.ts.
import type { CommentRecord, FileView, LoggedEvent, Origin } from './model.js';
import type { ReviewSnapshot } from './review-state.js';

/** A session's state at a sequence number, so that loading need not replay the whole log. */
export interface SessionSnapshot {
  seq: number;
  /** Files with their bases (absent in snapshots stored before bases existed). */
  files: FileView[];
  comments: CommentRecord[];
  /** Verdicts and viewed marks (absent in snapshots stored before they existed). */
  review?: ReviewSnapshot;
}

export interface LoadedSession {
  /** The newest snapshot with at least `keepTail` events after it (or the oldest one), if any. */
  snapshot: SessionSnapshot | undefined;
  /** Every event after the snapshot (or from the start), in order. */
  events: LoggedEvent[];
}

/** An optimistic append lost the race: another writer appended first. Reported as a value. */
export interface AppendConflict {
  ok: false;
  /** The log's actual last sequence number. */
  head: number;
}

export type AppendResult = { ok: true } | AppendConflict;

export interface Store {
  /** Loads a session, or undefined if it has no events and no snapshot. */
  load(sessionId: string, keepTail: number): Promise<LoadedSession | undefined>;
  /**
   * Appends events with consecutive sequence numbers expectedHead + 1, ... atomically: all or none.
   * Resolves only once they are durable. A concurrent append is a conflict, not an exception.
   * The caller has checked that no event's client message id is committed already (the engine:
   * its dedupe window, else findByOrigin); a store may take its word for it (core/dedupe.ts).
   */
  append(sessionId: string, expectedHead: number, events: readonly LoggedEvent[]): Promise<AppendResult>;
  /** Up to `limit` events with seq > afterSeq, in order. */
  readEvents(sessionId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]>;
  /** The committed event of this client message, if any (idempotent resends). A client message id
   * is scoped by the user and the client: another user reusing the same ids finds nothing. */
  findByOrigin(sessionId: string, origin: Origin): Promise<LoggedEvent | undefined>;
  /** The last committed sequence number of each session (0 for a session with no events). One
   * round trip for many sessions: instances poll it to notice events their bus did not deliver. */
  heads(sessionIds: readonly string[]): Promise<Map<string, number>>;
  saveSnapshot(sessionId: string, snapshot: SessionSnapshot): Promise<void>;
  /** The lowest sequence number readEvents can still return (1 when the whole log is kept). */
  firstRetainedSeq(sessionId: string): Promise<number>;
  close(): Promise<void>;
}
