// The in-memory Store: the reference implementation (tests, `--data :memory:`). Nothing survives a
// restart. With `retainEvents` it forgets, like the SQLite store, events more than that many behind
// the oldest snapshot it keeps (and keeps the last `keepSnapshots` snapshots), so a long-running
// `:memory:` server holds a bounded log per session instead of every event of its lifetime; a
// client resuming from before what is kept gets a fresh snapshot.
import type { LoggedEvent, Origin } from '../../core/model.js';
import type { AppendResult, LoadedSession, SessionSnapshot, Store } from '../../core/store.js';

interface SessionLog {
  /** Events after `pruned` (events[i] has seq pruned + i + 1). */
  events: LoggedEvent[];
  /** How many of the first events are forgotten. */
  pruned: number;
  /** Ascending by seq. */
  snapshots: SessionSnapshot[];
  byOrigin: Map<string, LoggedEvent>;
}

const originKey = (o: Origin) => `${o.userId}\u0000${o.clientId}\u0000${o.clientMessageId}`;

export interface MemoryStoreOptions {
  /** Events kept behind the oldest kept snapshot (0: keep every event). */
  retainEvents?: number;
  keepSnapshots?: number;
  /** Appends arriving in one turn of the event loop are committed together at its end, as the
   * durable stores' group commit does (the server's `--group-commit`). Without it every append is
   * answered in its own microtask: under overload each session then committed, published and wrote
   * one edit at a time, and `:memory:` carried a third of what the durable store did
   * (docs/benchmarks.md). */
  groupCommit?: boolean;
}

interface PendingAppend {
  sessionId: string;
  expectedHead: number;
  events: readonly LoggedEvent[];
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

export class MemoryStore implements Store {
  private readonly sessions = new Map<string, SessionLog>();
  private closed = false;
  private readonly retainEvents: number;
  private readonly keepSnapshots: number;
  private readonly groupCommit: boolean;
  private pending: PendingAppend[] = [];

  constructor(options: MemoryStoreOptions = {}) {
    this.retainEvents = options.retainEvents ?? 0;
    this.keepSnapshots = Math.max(1, options.keepSnapshots ?? 3);
    this.groupCommit = options.groupCommit ?? false;
  }

  private log(sessionId: string): SessionLog {
    let log = this.sessions.get(sessionId);
    if (!log) {
      log = { events: [], pruned: 0, snapshots: [], byOrigin: new Map() };
      this.sessions.set(sessionId, log);
    }
    return log;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }

  private static head(log: SessionLog): number {
    return log.pruned + log.events.length;
  }

  async load(sessionId: string, keepTail: number): Promise<LoadedSession | undefined> {
    this.checkOpen();
    const log = this.sessions.get(sessionId);
    if (!log || (MemoryStore.head(log) === 0 && log.snapshots.length === 0)) return undefined;
    const head = MemoryStore.head(log);
    let snapshot: SessionSnapshot | undefined;
    for (const s of log.snapshots) if (s.seq <= head - keepTail && s.seq >= log.pruned) snapshot = s;
    // Events before what is kept cannot be replayed: start from the oldest snapshot kept then.
    snapshot ??= log.pruned > 0 ? log.snapshots.find((s) => s.seq >= log.pruned) : undefined;
    const from = snapshot?.seq ?? 0;
    return {
      snapshot: snapshot && structuredClone(snapshot),
      events: log.events.slice(from - log.pruned),
    };
  }

  async append(
    sessionId: string,
    expectedHead: number,
    events: readonly LoggedEvent[],
  ): Promise<AppendResult> {
    this.checkOpen();
    if (!this.groupCommit) return this.commit(sessionId, expectedHead, events);
    return new Promise((resolve, reject) => {
      if (this.pending.push({ sessionId, expectedHead, events, resolve, reject }) === 1) {
        setImmediate(this.flush);
      }
    });
  }

  /** Commits this turn's appends in the order they came, each with its own result. */
  private readonly flush = (): void => {
    const batch = this.pending;
    this.pending = [];
    for (const a of batch) {
      try {
        a.resolve(this.commit(a.sessionId, a.expectedHead, a.events));
      } catch (err) {
        a.reject(err);
      }
    }
  };

  private commit(sessionId: string, expectedHead: number, events: readonly LoggedEvent[]): AppendResult {
    const log = this.log(sessionId);
    const head = MemoryStore.head(log);
    if (head !== expectedHead) return { ok: false, head };
    events.forEach((e, i) => {
      if (e.seq !== expectedHead + i + 1)
        throw new Error(`append: seq ${e.seq} is not ${expectedHead + i + 1}`);
    });
    for (const e of events) {
      log.events.push(e);
      if (e.origin.clientMessageId) log.byOrigin.set(originKey(e.origin), e);
    }
    return { ok: true };
  }

  async readEvents(sessionId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
    this.checkOpen();
    const log = this.sessions.get(sessionId);
    if (!log) return [];
    const from = Math.max(0, afterSeq - log.pruned);
    return log.events.slice(from, from + limit);
  }

  async findByOrigin(sessionId: string, origin: Origin) {
    this.checkOpen();
    return this.sessions.get(sessionId)?.byOrigin.get(originKey(origin));
  }

  async heads(sessionIds: readonly string[]): Promise<Map<string, number>> {
    this.checkOpen();
    return new Map(
      sessionIds.map((id) => {
        const log = this.sessions.get(id);
        return [id, log ? MemoryStore.head(log) : 0];
      }),
    );
  }

  async saveSnapshot(sessionId: string, snapshot: SessionSnapshot): Promise<void> {
    this.checkOpen();
    const log = this.log(sessionId);
    const last = log.snapshots.at(-1);
    if (last && last.seq >= snapshot.seq) return;
    log.snapshots.push(structuredClone(snapshot));
    if (log.snapshots.length > this.keepSnapshots)
      log.snapshots.splice(0, log.snapshots.length - this.keepSnapshots);
    if (this.retainEvents > 0)
      this.prune(log, Math.min(log.snapshots[0]!.seq, snapshot.seq - this.retainEvents));
  }

  /** Forgets events up to seq `upTo`, and their client message ids. */
  private prune(log: SessionLog, upTo: number): void {
    const count = Math.min(upTo - log.pruned, log.events.length);
    if (count <= 0) return;
    for (const e of log.events.splice(0, count)) {
      if (e.origin.clientMessageId && log.byOrigin.get(originKey(e.origin)) === e)
        log.byOrigin.delete(originKey(e.origin));
    }
    log.pruned += count;
  }

  async firstRetainedSeq(sessionId: string): Promise<number> {
    this.checkOpen();
    return (this.sessions.get(sessionId)?.pruned ?? 0) + 1;
  }

  async close(): Promise<void> {
    // What was accepted before closing is committed, as a durable store's pending commit is.
    this.flush();
    this.closed = true;
  }
}
