// The cluster Store: one PostgreSQL database shared by every server instance, the ordered log and
// the source of truth (instances keep no state another one needs).
//
// "Acknowledged" means committed: append() resolves only after PostgreSQL has committed it (durable
// as the server's synchronous_commit makes it). Appends are optimistic (see append.ts): an instance
// that lost a race to another gets a conflict and the engine reloads and retries. When the database
// is unreachable or restarting, calls reject (the engine answers UNAVAILABLE) and the pool
// reconnects on later calls by itself. An append that was in flight when the connection broke may
// have committed; the engine's reload and the client's resend under the same message id settle it.
import type pg from 'pg';
import type { LoggedEvent, Origin } from '../../core/model.js';
import type { AppendResult, LoadedSession, SessionSnapshot, Store } from '../../core/store.js';
import { heads } from './append.js';
import { GroupCommit, type GroupCommitStats } from './group-commit.js';
import { migrate } from './migrations.js';
import { createPool, describeUrl, inTransaction } from './pool.js';

export interface PostgresStoreOptions {
  /** Events kept per session behind its newest snapshot; older ones are pruned (0: keep all). */
  retainEvents?: number;
  /** Snapshots kept per session (default 3). */
  keepSnapshots?: number;
  /** Connections to PostgreSQL (default 10; every instance of a cluster opens its own). */
  poolSize?: number;
  /** Share one statement among appends that arrive together (default true). */
  groupCommit?: boolean;
  /** Groups committing at once (default 2): while they are in flight the next group forms. */
  commitsInFlight?: number;
  /** Connection attempts fail after this long (default 5 000 ms). */
  connectTimeoutMs?: number;
  /** Statements fail after this long (default 10 000 ms). */
  statementTimeoutMs?: number;
  /** Migrations wait this long for another instance's (default 60 000 ms). */
  migrationTimeoutMs?: number;
  /** Errors of idle connections (e.g. the database restarted); the pool has already dropped them. */
  onError?: (err: Error) => void;
}

interface EventRow {
  seq: number;
  at: number;
  user_id: string;
  client_id: string;
  client_message_id: string;
  change: string;
}

const EVENT_COLUMNS = 'seq, at, user_id, client_id, client_message_id, change';

function rowToEvent(sessionId: string, r: EventRow): LoggedEvent {
  return Object.freeze({
    sessionId,
    seq: r.seq,
    at: r.at,
    origin: { userId: r.user_id, clientId: r.client_id, clientMessageId: r.client_message_id },
    change: JSON.parse(r.change) as LoggedEvent['change'],
  });
}

// One statement, so it is atomic and sees one snapshot: keeps the newest `keepSnapshots` (counting
// the new one) and prunes the log behind the oldest kept snapshot and `retainEvents` behind the new
// one, so that the newest snapshot always has its whole tail.
const SAVE_SNAPSHOT_SQL = `
WITH saved AS (
  INSERT INTO snapshots (session_id, seq, state) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
),
kept AS (
  SELECT seq FROM (SELECT seq FROM snapshots WHERE session_id = $1 UNION SELECT $2::bigint) s
  ORDER BY seq DESC LIMIT $4
),
dropped AS (
  DELETE FROM snapshots WHERE session_id = $1 AND seq NOT IN (SELECT seq FROM kept)
)
DELETE FROM events
WHERE $5::bigint > 0 AND session_id = $1 AND seq <= LEAST((SELECT min(seq) FROM kept), $2 - $5::bigint)`;

export class PostgresStore implements Store {
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly commits: GroupCommit,
    private readonly retention: { retainEvents: number; keepSnapshots: number },
  ) {}

  /** Connects to `url` (postgres://user@host:port/db) and brings its schema up to date. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
    const pool = createPool(url, {
      max: options.poolSize ?? 10,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      statementTimeoutMs,
      onError: options.onError ?? (() => undefined),
    });
    try {
      await migrate(pool, options.migrationTimeoutMs ?? 60_000);
    } catch (err) {
      await pool.end().catch(() => undefined);
      const e = err as Error & { code?: string };
      throw new Error(
        `cannot open the PostgreSQL store at ${describeUrl(url)}: ${e.message}${e.code ? ` (${e.code})` : ''}`,
        { cause: err },
      );
    }
    return new PostgresStore(
      pool,
      new GroupCommit(pool, options.commitsInFlight ?? 2, options.groupCommit ?? true),
      { retainEvents: options.retainEvents ?? 0, keepSnapshots: Math.max(1, options.keepSnapshots ?? 3) },
    );
  }

  /** Commit counters since the store opened. */
  get commitStats(): Readonly<GroupCommitStats> {
    return this.commits.stats;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async load(sessionId: string, keepTail: number): Promise<LoadedSession | undefined> {
    this.checkOpen();
    // One snapshot of the database for all reads: pruning by another instance between them could
    // otherwise remove the chosen snapshot or the events after it.
    return inTransaction(this.pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (client) => {
      const { rows } = await client.query<{ head: number | null; first: number | null; seqs: string[] }>(
        `SELECT (SELECT head FROM sessions WHERE session_id = $1) AS head,
                (SELECT min(seq) FROM events WHERE session_id = $1) AS first,
                ARRAY(SELECT seq FROM snapshots WHERE session_id = $1 ORDER BY seq) AS seqs`,
        [sessionId],
      );
      const { head, first } = rows[0]!;
      const seqs = rows[0]!.seqs.map(Number);
      if (head === null && seqs.length === 0) return undefined;
      // The newest snapshot that leaves `keepTail` events to replay; failing that, the one that
      // leaves the most history to transform stale edits against: none while the whole log is
      // kept, else the oldest whose tail is kept. (After a lost race the engine reloads, so in a
      // cluster this decides how far back its clients' edits may be based.)
      const firstRetained = first ?? (head ?? 0) + 1;
      const usable = seqs.filter((seq) => seq + 1 >= firstRetained);
      let chosen = usable.filter((seq) => seq <= (head ?? 0) - keepTail).at(-1);
      if (chosen === undefined && firstRetained > 1) {
        chosen = usable[0];
        if (chosen === undefined) {
          throw new Error(
            `session ${sessionId}: log starts at ${firstRetained} and no snapshot covers what was pruned`,
          );
        }
      }
      let snapshot: SessionSnapshot | undefined;
      if (chosen !== undefined) {
        const state = await client.query<{ state: string }>(
          'SELECT state FROM snapshots WHERE session_id = $1 AND seq = $2',
          [sessionId, chosen],
        );
        snapshot = { seq: chosen, ...(JSON.parse(state.rows[0]!.state) as Omit<SessionSnapshot, 'seq'>) };
      }
      const events = await client.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq`,
        [sessionId, snapshot?.seq ?? 0],
      );
      return { snapshot, events: events.rows.map((r) => rowToEvent(sessionId, r)) };
    });
  }

  async append(
    sessionId: string,
    expectedHead: number,
    events: readonly LoggedEvent[],
  ): Promise<AppendResult> {
    this.checkOpen();
    events.forEach((e, i) => {
      if (e.seq !== expectedHead + i + 1)
        throw new Error(`append: seq ${e.seq} is not ${expectedHead + i + 1}`);
    });
    return this.commits.submit({ sessionId, expectedHead, events });
  }

  async readEvents(sessionId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
    this.checkOpen();
    const { rows } = await this.pool.query<EventRow>({
      name: 'livereview_read_events',
      text: `SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      values: [sessionId, afterSeq, Math.max(0, limit)],
    });
    return rows.map((r) => rowToEvent(sessionId, r));
  }

  async findByOrigin(sessionId: string, origin: Origin): Promise<LoggedEvent | undefined> {
    this.checkOpen();
    if (!origin.clientMessageId) return undefined;
    const { rows } = await this.pool.query<EventRow>({
      name: 'livereview_find_by_origin',
      // Repeats the partial index's condition so that the planner may use it for any parameter.
      text: `SELECT ${EVENT_COLUMNS} FROM events
             WHERE session_id = $1 AND user_id = $2 AND client_id = $3 AND client_message_id = $4
               AND client_message_id <> ''`,
      values: [sessionId, origin.userId, origin.clientId, origin.clientMessageId],
    });
    return rows[0] && rowToEvent(sessionId, rows[0]);
  }

  async heads(sessionIds: readonly string[]): Promise<Map<string, number>> {
    this.checkOpen();
    if (sessionIds.length === 0) return new Map();
    return heads(this.pool, sessionIds);
  }

  async saveSnapshot(sessionId: string, snapshot: SessionSnapshot): Promise<void> {
    this.checkOpen();
    const { seq, ...state } = snapshot;
    await this.pool.query({
      name: 'livereview_save_snapshot',
      text: SAVE_SNAPSHOT_SQL,
      values: [
        sessionId,
        seq,
        JSON.stringify(state),
        this.retention.keepSnapshots,
        this.retention.retainEvents,
      ],
    });
  }

  async firstRetainedSeq(sessionId: string): Promise<number> {
    this.checkOpen();
    const { rows } = await this.pool.query<{ first: number }>({
      name: 'livereview_first_retained',
      text: `SELECT COALESCE((SELECT min(seq) FROM events WHERE session_id = $1),
                             (SELECT head + 1 FROM sessions WHERE session_id = $1), 1) AS first`,
      values: [sessionId],
    });
    return rows[0]!.first;
  }

  /** Waits for the appends already submitted, then closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.commits.drain();
    await this.pool.end();
  }
}
