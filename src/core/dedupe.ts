// The dedupe window: what this instance remembers of each client's committed messages, so that a
// resend (after a lost ack, a reconnect, a failover to another instance) is answered with the
// original commit's ack instead of being applied twice, mostly without asking the store.
//
// Exactly-once does not depend on this memory: the log has a unique index on (session, user,
// client, message id) and a message the window cannot vouch for is looked up there
// (`Store.findByOrigin`). The window only decides when that lookup can be skipped, and its memory
// is bounded per client, not per session history:
//
// - **Recent acks**, at most `perClient` per client (default 64, `--max-inflight`'s default): a
//   resume resends what was in flight when the stream ended — what the server had read but not
//   answered, and the acks still queued for it — and those are answered from memory. (The SDK
//   keeps one edit per file in flight; a client cut off with many acks queued gets the older
//   ones from the log.) Kept field by field in rings written in place: about 50 bytes each
//   and the message id.
// - **A high-water mark per client**: the largest number that ends any of its committed message
//   ids (`<client id>:<n>` from the SDK and the load generator). An id whose number is above it
//   was never committed, so a new message needs no lookup however long the client has been
//   typing. Any id is accepted; ids without a trailing number just get no shortcut.
// - **Forgetting**: a client that has committed nothing for `idleMs` (default 10 min) loses its
//   acks and keeps its mark; beyond `maxClients` (4,096) the least recently active clients are
//   forgotten altogether. Whatever is forgotten is answered from the store.
//
// The mark is only trusted while this instance has seen every committed message of the client:
// for a session loaded from an empty log, and for clients it has never forgotten. In a session
// loaded with history, messages not in the window are looked up (one indexed read each).
import type { AckView, LoggedEvent, Origin } from './model.js';

/** The ack of a committed event, as its sender (or a resend of it) receives it. */
export function ackOf(event: LoggedEvent, duplicate: boolean): AckView {
  const c = event.change;
  return {
    clientMessageId: event.origin.clientMessageId,
    sequence: event.seq,
    version: 'version' in c ? c.version : 0,
    path: c.kind === 'comment' ? c.comment.path : 'path' in c ? c.path : '',
    commentId: c.kind === 'comment' ? c.comment.id : c.kind === 'suggestion_applied' ? c.commentId : '',
    line: c.kind === 'comment' ? c.line : 0,
    duplicate,
  };
}

export interface DedupeLimits {
  /** Recent acks remembered per client. */
  perClient: number;
  /** A client that commits nothing for this long loses its recent acks (it keeps its mark). */
  idleMs: number;
  /** Clients remembered per session; beyond, the least recently active is forgotten. */
  maxClients: number;
}

export const defaultDedupeLimits: DedupeLimits = { perClient: 64, idleMs: 600_000, maxClients: 4096 };

/** What the window knows of one client (user + client id). */
interface ClientRecord {
  /** Its most recent committed messages, oldest first from `next` on (a ring of at most
   * `perClient`), each a message id and what its duplicate ack says; undefined once forgotten. */
  recent: RecentAcks | undefined;
  /** The largest trailing number of its committed message ids (-1: none). */
  highWater: number;
  /** Every committed message of this client is known here (its mark can be trusted). */
  complete: boolean;
  /** Some of its acks were dropped (evicted or idle): a miss may be an older message. */
  forgotAcks: boolean;
  /** Commit time of its latest message. */
  lastAt: number;
}

/** A client's recent acks, field by field in rings that are written in place: no Map whose
 * entries come and go with every message (V8 rebuilds such a map's table in the old generation
 * when the map is old; docs/benchmarks.md, "2026-12-03, afternoon: the p99 was the major collections"),
 * and no object per ack kept for the window's lifetime. */
interface RecentAcks {
  ids: string[];
  sequences: number[];
  versions: number[];
  lines: number[];
  paths: string[];
  commentIds: string[];
  /** Where the next ack goes (the oldest, once the ring is full). */
  next: number;
}

/** Client records by user, then by client id: looked up with the strings a connection holds for
 * all its messages (V8 keeps their hashes), where a key joined from the two was a new string to
 * build and hash for every message. */
class ClientRecords {
  private readonly byUser = new Map<string, Map<string, ClientRecord>>();
  size = 0;

  get(origin: Origin): ClientRecord | undefined {
    return this.byUser.get(origin.userId)?.get(origin.clientId);
  }

  add(origin: Origin, record: ClientRecord): void {
    let clients = this.byUser.get(origin.userId);
    if (!clients) this.byUser.set(origin.userId, (clients = new Map()));
    if (!clients.has(origin.clientId)) this.size++;
    clients.set(origin.clientId, record);
  }

  delete(userId: string, clientId: string): void {
    const clients = this.byUser.get(userId);
    if (!clients?.delete(clientId)) return;
    this.size--;
    if (clients.size === 0) this.byUser.delete(userId);
  }

  *entries(): IterableIterator<[userId: string, clientId: string, record: ClientRecord]> {
    for (const [userId, clients] of this.byUser) {
      for (const [clientId, record] of clients) yield [userId, clientId, record];
    }
  }

  *values(): IterableIterator<ClientRecord> {
    for (const clients of this.byUser.values()) yield* clients.values();
  }
}

/** The number a message id ends with, if it ends with one (at most 15 digits: a safe integer). */
export function trailingNumber(id: string): number | undefined {
  // Read from the end, digit by digit: no slice to parse (this runs for every message committed).
  let value = 0;
  let scale = 1;
  let i = id.length;
  while (i > 0 && i > id.length - 15) {
    const c = id.charCodeAt(i - 1);
    if (c < 48 || c > 57) break;
    value += (c - 48) * scale;
    scale *= 10;
    i--;
  }
  return i === id.length ? undefined : value;
}

export class DedupeWindow {
  /** What is known of each client (by user, then client id). */
  private clients = new ClientRecords();
  /** Every committed message since the session's first is known here, for every client without
   * a record: the session was loaded from an empty log and no client has been forgotten. */
  private complete = true;
  private lastSweepAt = 0;
  private readonly limits: DedupeLimits;

  constructor(limits: Partial<DedupeLimits> = {}) {
    this.limits = { ...defaultDedupeLimits, ...limits };
  }

  /** Forgets everything: the events after `head` will be remembered as they are applied. */
  reset(head: number): void {
    this.clients = new ClientRecords();
    this.complete = head === 0;
  }

  remember(event: LoggedEvent): void {
    const { origin } = event;
    if (!origin.clientMessageId) return;
    let record = this.clients.get(origin);
    if (record) record.lastAt = Math.max(record.lastAt, event.at);
    else {
      // Its time is set before the bound is enforced: the newcomer is the most recent client.
      record = {
        recent: undefined,
        highWater: -1,
        complete: this.complete,
        forgotAcks: false,
        lastAt: event.at,
      };
      this.clients.add(origin, record);
      if (this.clients.size > this.limits.maxClients) this.forgetLeastRecent();
    }
    const n = trailingNumber(origin.clientMessageId);
    if (n !== undefined && n > record.highWater) record.highWater = n;
    const recent = (record.recent ??= {
      ids: [],
      sequences: [],
      versions: [],
      lines: [],
      paths: [],
      commentIds: [],
      next: 0,
    });
    const i = recent.next;
    if (i < recent.ids.length) record.forgotAcks = true; // overwriting the oldest
    const ack = ackOf(event, true);
    recent.ids[i] = origin.clientMessageId;
    recent.sequences[i] = ack.sequence;
    recent.versions[i] = ack.version;
    recent.lines[i] = ack.line;
    recent.paths[i] = ack.path;
    recent.commentIds[i] = ack.commentId;
    recent.next = (i + 1) % this.limits.perClient;
    if (event.at - this.lastSweepAt >= this.limits.idleMs / 4) this.sweep(event.at);
  }

  /** Beyond maxClients: forgets the client that committed least recently (found by a scan; this
   * happens once per client beyond the bound, not per message). */
  private forgetLeastRecent(): void {
    let oldest: [userId: string, clientId: string] | undefined;
    let oldestAt = Infinity;
    for (const [userId, clientId, record] of this.clients.entries()) {
      if (record.lastAt < oldestAt) {
        oldestAt = record.lastAt;
        oldest = [userId, clientId];
      }
    }
    if (oldest) this.clients.delete(...oldest);
    this.complete = false;
  }

  /** Drops the acks of clients that have committed nothing for `idleMs`. */
  private sweep(now: number): void {
    this.lastSweepAt = now;
    for (const record of this.clients.values()) {
      if (record.recent && record.lastAt <= now - this.limits.idleMs) {
        record.recent = undefined;
        record.forgotAcks = true;
      }
    }
  }

  /** Takes back a remembered event whose commit was undone. Its client's mark stays: a mark too
   * high only costs a lookup, never a wrong answer. */
  forget(event: LoggedEvent): void {
    const id = event.origin.clientMessageId;
    if (!id) return;
    const recent = this.clients.get(event.origin)?.recent;
    if (!recent) return;
    // Undone events are the latest remembered: look from the newest backwards.
    const n = recent.ids.length;
    for (let k = 1; k <= n; k++) {
      const i = (recent.next - k + n) % n;
      if (recent.ids[i] === id) {
        recent.ids[i] = '';
        return;
      }
    }
  }

  /**
   * What the window knows of a client message: the duplicate ack of a recent commit of it; 'new'
   * when it was never committed (no lookup needed); 'unknown' when it may have been committed
   * before what the window remembers (ask the store). One look at the client's record, for every
   * message committed.
   */
  lookup(origin: Origin): AckView | 'new' | 'unknown' {
    const id = origin.clientMessageId;
    if (!id) return 'new';
    const record = this.clients.get(origin);
    if (!record) return this.complete ? 'new' : 'unknown';
    // A message numbered above every committed one needs no search.
    const n = trailingNumber(id);
    const above = n !== undefined && n > record.highWater;
    const recent = record.recent;
    if (!above && recent) {
      const i = recent.ids.indexOf(id);
      if (i >= 0) {
        return {
          clientMessageId: id,
          sequence: recent.sequences[i]!,
          version: recent.versions[i]!,
          path: recent.paths[i]!,
          commentId: recent.commentIds[i]!,
          line: recent.lines[i]!,
          duplicate: true,
        };
      }
    }
    if (!record.complete) return 'unknown';
    if (above) return 'new';
    return record.forgotAcks ? 'unknown' : 'new';
  }

  /** Clients remembered and acks held (for tests and measurements). */
  get size(): { clients: number; acks: number } {
    let acks = 0;
    for (const r of this.clients.values()) acks += r.recent?.ids.filter((id) => id !== '').length ?? 0;
    return { clients: this.clients.size, acks };
  }
}
