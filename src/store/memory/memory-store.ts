// The in-memory Store: the reference implementation (tests, `--data :memory:`). It keeps every
// event and snapshot of the process's lifetime; nothing survives a restart.
import type { LoggedEvent, Origin } from '../../core/model.js';
import type { AppendResult, LoadedSession, SessionSnapshot, Store } from '../../core/store.js';

interface SessionLog {
  events: LoggedEvent[];
  /** Ascending by seq. */
  snapshots: SessionSnapshot[];
  byOrigin: Map<string, LoggedEvent>;
}

const originKey = (o: Origin) => `${o.userId}\u0000${o.clientId}\u0000${o.clientMessageId}`;

export class MemoryStore implements Store {
  private readonly sessions = new Map<string, SessionLog>();
  private closed = false;

  private log(sessionId: string): SessionLog {
    let log = this.sessions.get(sessionId);
    if (!log) {
      log = { events: [], snapshots: [], byOrigin: new Map() };
      this.sessions.set(sessionId, log);
    }
    return log;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async load(sessionId: string, keepTail: number): Promise<LoadedSession | undefined> {
    this.checkOpen();
    const log = this.sessions.get(sessionId);
    if (!log || (log.events.length === 0 && log.snapshots.length === 0)) return undefined;
    const head = log.events.length;
    let snapshot: SessionSnapshot | undefined;
    for (const s of log.snapshots) if (s.seq <= head - keepTail) snapshot = s;
    const from = snapshot?.seq ?? 0;
    return { snapshot: snapshot && structuredClone(snapshot), events: log.events.slice(from) };
  }

  async append(
    sessionId: string,
    expectedHead: number,
    events: readonly LoggedEvent[],
  ): Promise<AppendResult> {
    this.checkOpen();
    const log = this.log(sessionId);
    if (log.events.length !== expectedHead) return { ok: false, head: log.events.length };
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
    return log.events.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit);
  }

  async findByOrigin(sessionId: string, origin: Origin) {
    this.checkOpen();
    return this.sessions.get(sessionId)?.byOrigin.get(originKey(origin));
  }

  async heads(sessionIds: readonly string[]): Promise<Map<string, number>> {
    this.checkOpen();
    return new Map(sessionIds.map((id) => [id, this.sessions.get(id)?.events.length ?? 0]));
  }

  async saveSnapshot(sessionId: string, snapshot: SessionSnapshot): Promise<void> {
    this.checkOpen();
    const log = this.log(sessionId);
    const last = log.snapshots.at(-1);
    if (last && last.seq >= snapshot.seq) return;
    log.snapshots.push(structuredClone(snapshot));
  }

  async firstRetainedSeq(_sessionId: string): Promise<number> {
    this.checkOpen();
    return 1;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
