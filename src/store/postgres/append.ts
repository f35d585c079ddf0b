// The optimistic append of several sessions' batches in one statement: one round trip and one
// commit for all of them, each batch written entirely or not at all, and one session's lost race
// reported as a value without failing the others.
import type pg from 'pg';
import type { LoggedEvent } from '../../core/model.js';
import type { AppendResult } from '../../core/store.js';

export interface AppendRequest {
  sessionId: string;
  expectedHead: number;
  events: readonly LoggedEvent[];
}

// The sessions row is the lock: an append advances `head` only from the head it expects, so of two
// instances appending at the same head one waits for the other's commit, then finds the head moved.
// Rows are locked in session id order (the locking CTE is materialized, sorted, and feeds the
// update) so that two instances committing overlapping groups cannot deadlock. A session's first
// append creates its row; ON CONFLICT DO NOTHING makes a concurrent creation the loser.
// Events are passed as JSON with each change already serialized (a text field): a JSON-typed field
// would be parsed by PostgreSQL, which refuses \u0000 in strings (file text may contain NUL).
const APPEND_SQL = `
WITH input AS (
  SELECT * FROM json_to_recordset($1::json) AS a(session_id text, expected bigint, head bigint)
),
locked AS MATERIALIZED (
  SELECT s.session_id, s.head FROM sessions s
  WHERE s.session_id IN (SELECT session_id FROM input)
  ORDER BY s.session_id
  FOR UPDATE
),
advanced AS (
  UPDATE sessions s SET head = i.head, updated_at = $3
  FROM locked l JOIN input i ON i.session_id = l.session_id
  WHERE s.session_id = l.session_id AND l.head = i.expected
  RETURNING s.session_id, s.head
),
created AS (
  INSERT INTO sessions (session_id, head, created_at, updated_at)
  SELECT i.session_id, i.head, $3, $3 FROM input i
  WHERE i.expected = 0 AND i.session_id NOT IN (SELECT session_id FROM locked)
  ORDER BY i.session_id
  ON CONFLICT (session_id) DO NOTHING
  RETURNING session_id, head
),
won AS (
  SELECT session_id, head FROM advanced UNION ALL SELECT session_id, head FROM created
),
written AS (
  INSERT INTO events (session_id, seq, at, user_id, client_id, client_message_id, kind, change)
  SELECT e.s, e.q, e.a, e.u, e.c, e.m, e.k, e.ch
  FROM json_to_recordset($2::json) AS e(s text, q bigint, a bigint, u text, c text, m text, k text, ch text)
  WHERE e.s IN (SELECT session_id FROM won)
)
SELECT session_id, true AS won, head FROM won
UNION ALL
SELECT session_id, false, head FROM locked WHERE session_id NOT IN (SELECT session_id FROM won)`;

const HEADS_SQL = 'SELECT session_id, head FROM sessions WHERE session_id = ANY($1::text[])';

/** The unique index that refuses a second commit of the same client message. */
const ORIGIN_INDEX = 'events_by_origin';

/** Errors after which each batch of a group is retried in its own statement: the group's statement
 * wrote nothing, and only some of its batches may be at fault. */
const RETRY_ALONE = new Set([
  '23505', // unique_violation: a batch repeats a committed client message
  '40P01', // deadlock_detected: a concurrent creation of the same new sessions in another order
  '40001', // serialization_failure
]);

/** Appends every request (at most one per session) in one statement; outcomes in request order.
 * Rejects when nothing could be committed (e.g. the database is unreachable). */
export async function appendGroup(
  pool: pg.Pool,
  requests: readonly AppendRequest[],
): Promise<{ outcomes: PromiseSettledResult<AppendResult>[]; retriedAlone: boolean }> {
  try {
    const results = await appendInOneStatement(pool, requests);
    return { outcomes: results.map((value) => ({ status: 'fulfilled', value })), retriedAlone: false };
  } catch (err) {
    if (requests.length === 1 || !RETRY_ALONE.has((err as { code?: string }).code ?? '')) throw err;
  }
  const outcomes = await Promise.allSettled(
    requests.map(async (r) => (await appendInOneStatement(pool, [r]))[0]!),
  );
  return { outcomes, retriedAlone: true };
}

async function appendInOneStatement(
  pool: pg.Pool,
  requests: readonly AppendRequest[],
): Promise<AppendResult[]> {
  const input = requests.map((r) => ({
    session_id: r.sessionId,
    expected: r.expectedHead,
    head: r.expectedHead + r.events.length,
  }));
  const rows = requests.flatMap((r) =>
    r.events.map((e) => ({
      s: r.sessionId,
      q: e.seq,
      a: e.at,
      u: e.origin.userId,
      c: e.origin.clientId,
      m: e.origin.clientMessageId,
      k: e.change.kind,
      ch: JSON.stringify(e.change),
    })),
  );
  let outcome: pg.QueryResult<{ session_id: string; won: boolean; head: number }>;
  try {
    outcome = await pool.query({
      name: 'livereview_append',
      text: APPEND_SQL,
      values: [JSON.stringify(input), JSON.stringify(rows), Date.now()],
    });
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    // Only reachable alone (see appendGroup): another instance committed this client message first.
    // A conflict makes the engine reload and find that commit, then acknowledge it as a duplicate.
    if (requests.length === 1 && e.code === '23505' && e.constraint === ORIGIN_INDEX) {
      return [
        { ok: false, head: (await heads(pool, [requests[0]!.sessionId])).get(requests[0]!.sessionId) ?? 0 },
      ];
    }
    throw err;
  }
  const bySession = new Map(outcome.rows.map((r) => [r.session_id, r]));
  // A session that lost its creation race is not among the locked rows: read its head now.
  const unknown = requests.filter((r) => !bySession.has(r.sessionId)).map((r) => r.sessionId);
  const unknownHeads = unknown.length > 0 ? await heads(pool, unknown) : new Map<string, number>();
  return requests.map((r): AppendResult => {
    const row = bySession.get(r.sessionId);
    if (row?.won) return { ok: true };
    return { ok: false, head: row?.head ?? unknownHeads.get(r.sessionId) ?? 0 };
  });
}

export async function heads(pool: pg.Pool, sessionIds: readonly string[]): Promise<Map<string, number>> {
  const result = await pool.query<{ session_id: string; head: number }>({
    name: 'livereview_heads',
    text: HEADS_SQL,
    values: [sessionIds],
  });
  const found = new Map(result.rows.map((r) => [r.session_id, r.head]));
  return new Map(sessionIds.map((id) => [id, found.get(id) ?? 0]));
}
