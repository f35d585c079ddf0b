// What the PostgreSQL store does beyond the conformance suite: several instances on one database,
// the database going away and coming back, hung connections, the duplicate-commit guard, retention.
// The shared server is never stopped: outages are a TCP proxy in front of it that the test cuts.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import type { LoggedEvent } from '../src/core/model.js';
import type { Store } from '../src/core/store.js';
import { MIGRATIONS } from '../src/store/postgres/migrations.js';
import { PostgresStore, type PostgresStoreOptions } from '../src/store/postgres/postgres-store.js';
import { ChaosProxy } from './helpers/chaos-proxy.js';
import { createTestDatabase, databaseUrl, MAINTENANCE_URL, type TestDatabase } from './helpers/postgres.js';
import { event } from './store-conformance.js';

const postgresPort = Number(new URL(MAINTENANCE_URL).port || 5432);
let database: TestDatabase;

before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await database.drop();
});

let unique = 0;
const sessionName = () => `pg-${++unique}`;

/** A store on `url` (the test database by default), closed when the test ends. */
async function openStore(
  t: TestContext,
  options: PostgresStoreOptions = {},
  url = database.url,
): Promise<PostgresStore> {
  const store = await PostgresStore.open(url, options);
  t.after(() => store.close());
  return store;
}

/** A store that reaches the test database through `proxy`. */
function openThrough(t: TestContext, proxy: ChaosProxy, options: PostgresStoreOptions = {}) {
  return openStore(t, options, databaseUrl(database.name, proxy.port));
}

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('PostgreSQL store: several instances', () => {
  it('applies each migration once when several instances start together on a fresh database', async (t) => {
    const fresh = await createTestDatabase();
    t.after(() => fresh.drop());
    const stores = await Promise.all(Array.from({ length: 6 }, () => openStore(t, {}, fresh.url)));
    const applied = await query<{ version: number }>(fresh.url, 'SELECT version FROM schema_migrations');
    assert.deepEqual(
      applied.map((r) => r.version),
      MIGRATIONS.map((m) => m.version),
    );
    // Every instance works on the same log.
    const s = sessionName();
    for (const [i, store] of stores.entries()) {
      assert.deepEqual(await store.append(s, i, [event(s, i + 1, `m${i}`)]), { ok: true });
    }
    assert.equal((await stores[0]!.readEvents(s, 0, 100)).length, stores.length);
    await Promise.all(stores.map((store) => store.close()));
    // A restart finds the schema applied.
    const again = await openStore(t, {}, fresh.url);
    assert.deepEqual(await again.heads([s]), new Map([[s, stores.length]]));
  });

  it('commits groups that two instances send over the same sessions in opposite orders without a deadlock', async (t) => {
    // Its own database, where the planner visits rows in the order they are given (no hash or
    // merge joins, no sequential scans): a statement that locked sessions in its input's order
    // would deadlock here.
    const own = await createTestDatabase();
    t.after(() => own.drop());
    await query(
      own.url,
      `ALTER DATABASE ${own.name} SET enable_hashjoin = off;
       ALTER DATABASE ${own.name} SET enable_mergejoin = off;
       ALTER DATABASE ${own.name} SET enable_seqscan = off`,
    );
    const [first, second] = await Promise.all([openStore(t, {}, own.url), openStore(t, {}, own.url)]);
    const sessions = ['x', 'm', 'y'];
    await Promise.all(sessions.map((s) => first.append(s, 0, [event(s, 1)])));

    // A third party holds the middle session, so that both groups are under way when it lets go.
    const blocker = new pg.Client({ connectionString: own.url });
    blocker.on('error', () => undefined); // the database is dropped under it at the end
    await blocker.connect();
    t.after(() => blocker.end());
    await blocker.query('BEGIN');
    await blocker.query(`SELECT head FROM sessions WHERE session_id = 'm' FOR UPDATE`);
    const appendAll = (store: Store, order: string[], writer: string) =>
      Promise.all(order.map((s) => store.append(s, 1, [event(s, 2, writer, writer)])));
    const firstGroup = appendAll(first, sessions, 'a');
    const secondGroup = appendAll(second, [...sessions].reverse(), 'b');
    for (;;) {
      const waiting = await blocker.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (waiting.rows[0].n === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await blocker.query('COMMIT');

    const outcomes = [...(await firstGroup), ...(await secondGroup)];
    // A deadlock would have failed one group's statement and sent its appends one by one.
    assert.equal(first.commitStats.retriedAlone + second.commitStats.retriedAlone, 0);
    // Each session went to one of the two, and the other learnt the real head.
    assert.equal(outcomes.filter((r) => r.ok).length, sessions.length);
    assert.deepEqual(
      outcomes.filter((r) => !r.ok),
      sessions.map(() => ({ ok: false, head: 2 })),
    );
    assert.deepEqual(await first.heads(sessions), new Map(sessions.map((s) => [s, 2])));
  });

  it('refuses a second commit of the same client message as a conflict, and the rest of its group commits', async (t) => {
    const store = await openStore(t);
    const s = sessionName();
    const other = sessionName();
    await store.append(s, 0, [event(s, 1, 'm1'), event(s, 2, 'm2')]);
    // Another instance, unaware of the first commit of m2, commits it again at the new head.
    const [duplicate, unrelated] = await Promise.all([
      store.append(s, 2, [event(s, 3, 'm2')]),
      store.append(other, 0, [event(other, 1, 'm2')]),
    ]);
    assert.deepEqual(duplicate, { ok: false, head: 2 });
    assert.deepEqual(unrelated, { ok: true });
    assert.equal(store.commitStats.retriedAlone, 1);
    assert.equal(
      (await store.findByOrigin(s, { userId: 'u1', clientId: 'c1', clientMessageId: 'm2' }))?.seq,
      2,
    );
    assert.deepEqual(
      (await store.readEvents(s, 0, 10)).map((e) => e.seq),
      [1, 2],
    );
  });

  it("refuses an append with a gap in its sequence numbers without failing another session's append", async (t) => {
    const store = await openStore(t);
    const s = sessionName();
    const other = sessionName();
    const [gap, fine] = await Promise.allSettled([
      store.append(s, 0, [event(s, 1), event(s, 3)]),
      store.append(other, 0, [event(other, 1)]),
    ]);
    assert.equal(gap.status, 'rejected');
    assert.deepEqual(fine, { status: 'fulfilled', value: { ok: true } });
    assert.deepEqual(
      await store.heads([s, other]),
      new Map([
        [s, 0],
        [other, 1],
      ]),
    );
  });
});

describe('PostgreSQL store: retention', () => {
  it('keeps the newest snapshots, prunes the log behind them, and loads from a snapshot with its tail', async (t) => {
    const store = await openStore(t, { retainEvents: 5, keepSnapshots: 2 });
    const s = sessionName();
    await store.append(
      s,
      0,
      Array.from({ length: 30 }, (_, i) => event(s, i + 1)),
    );
    const snap = (seq: number) => ({
      seq,
      files: [{ path: 'f.ts', version: seq, text: `at ${seq}` }],
      comments: [],
    });
    await store.saveSnapshot(s, snap(10));
    assert.equal(await store.firstRetainedSeq(s), 6);
    await store.saveSnapshot(s, snap(20));
    assert.equal(await store.firstRetainedSeq(s), 11); // behind the oldest kept snapshot (10)
    await store.saveSnapshot(s, snap(28));
    assert.equal(await store.firstRetainedSeq(s), 21); // snapshot 10 dropped: only 20 and 28 kept
    const snapshots = await query<{ seq: number }>(
      database.url,
      `SELECT seq FROM snapshots WHERE session_id = '${s}' ORDER BY seq`,
    );
    assert.deepEqual(
      snapshots.map((r) => Number(r.seq)),
      [20, 28],
    );
    // A long tail is asked for, but the log before 21 is gone: the oldest usable snapshot is 20.
    const loaded = await store.load(s, 100);
    assert.deepEqual(loaded?.snapshot, snap(20));
    assert.deepEqual(
      loaded?.events.map((e) => e.seq),
      Array.from({ length: 10 }, (_, i) => 21 + i),
    );
  });
  it('loads a session whose whole log is kept with all of its history when no snapshot leaves the tail asked for', async (t) => {
    // After a lost race the engine reloads the session; the history it keeps decides how stale a
    // client's edit may be and still be transformed.
    const store = await openStore(t);
    const s = sessionName();
    await store.append(
      s,
      0,
      Array.from({ length: 10 }, (_, i) => event(s, i + 1)),
    );
    await store.saveSnapshot(s, {
      seq: 8,
      files: [{ path: 'f.ts', version: 8, text: 'at 8' }],
      comments: [],
    });
    const loaded = await store.load(s, 5);
    assert.equal(loaded?.snapshot, undefined);
    assert.deepEqual(
      loaded?.events.map((e) => e.seq),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
  });
});

describe('PostgreSQL store: outages', () => {
  it('fails calls while the database is unreachable, writes nothing by halves, and works again afterwards', async (t) => {
    const proxy = new ChaosProxy(postgresPort);
    const port = await proxy.listen();
    t.after(() => proxy.close());
    const idleErrors: Error[] = [];
    const store = await openThrough(t, proxy, { onError: (err) => idleErrors.push(err) });
    const sessions = Array.from({ length: 8 }, sessionName);
    // Concurrent appends: several connections, most of them idle when the database goes away.
    const first = await Promise.all(sessions.map((s) => store.append(s, 0, [event(s, 1, 'first')])));
    assert.deepEqual(
      first,
      sessions.map(() => ({ ok: true })),
    );
    await Promise.all([store.heads(sessions), store.heads(sessions), store.heads(sessions)]);

    // Batches of several events in flight when the database goes away: each commits whole or not at all.
    const inFlight = sessions.map((s) =>
      store.append(
        s,
        1,
        [2, 3, 4].map((seq) => event(s, seq, `burst-${seq}`)),
      ),
    );
    await proxy.close();
    const outcomes = await Promise.allSettled(inFlight);

    // Meanwhile every call fails (the engine answers UNAVAILABLE), for a few seconds of retries.
    const s = sessions[0]!;
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      await assert.rejects(store.append(s, 4, [event(s, 5, 'during')]));
      await assert.rejects(store.readEvents(s, 0, 10));
      await assert.rejects(store.heads(sessions));
      await assert.rejects(store.load(s, 0));
      await assert.rejects(store.findByOrigin(s, { userId: 'u1', clientId: 'c1', clientMessageId: 'first' }));
      await assert.rejects(store.saveSnapshot(s, { seq: 1, files: [], comments: [] }));
      await assert.rejects(store.firstRetainedSeq(s));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    await proxy.listen(port);
    const heads = await store.heads(sessions);
    for (const [i, s] of sessions.entries()) {
      const log = await store.readEvents(s, 0, 100);
      const head = heads.get(s)!;
      assert.deepEqual(
        log.map((e) => e.seq),
        Array.from({ length: head }, (_, k) => k + 1),
        `${s}: the log is gap-free up to its head`,
      );
      assert.ok(head === 1 || head === 4, `${s}: its burst committed whole or not at all (head ${head})`);
      if (outcomes[i]!.status === 'fulfilled') assert.equal(head, 4, `${s}: an acknowledged burst is there`);
    }
    // The same store, without a restart.
    const next = heads.get(s)!;
    assert.deepEqual(await store.append(s, next, [event(s, next + 1, 'after')]), { ok: true });
    assert.equal((await store.load(s, 0))?.events.at(-1)?.origin.clientMessageId, 'after');
    // The idle connections the outage killed were reported, not thrown at the process.
    assert.ok(idleErrors.length > 0);
  });

  it('fails a call on a connection that stops answering after the statement timeout, then works again', async (t) => {
    const proxy = new ChaosProxy(postgresPort);
    await proxy.listen();
    t.after(() => proxy.close());
    const store = await openThrough(t, proxy, { poolSize: 1, statementTimeoutMs: 300 });
    const s = sessionName();
    await store.append(s, 0, [event(s, 1)]);
    proxy.stallAll(60_000); // the pooled connection: bytes stop flowing both ways
    await assert.rejects(store.readEvents(s, 0, 10), /timeout/i);
    // The hung connection was dropped; the next call opens a fresh one.
    assert.deepEqual(
      (await store.readEvents(s, 0, 10)).map((e: LoggedEvent) => e.seq),
      [1],
    );
  });

  it('fails to open, naming the database without its password, when the server accepts but never answers', async (t) => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const { port } = silent.address() as { port: number };
    const url = `postgres://postgres:secret-word@127.0.0.1:${port}/nowhere`;
    await assert.rejects(PostgresStore.open(url, { connectTimeoutMs: 300 }), (err: Error) => {
      assert.match(
        err.message,
        /cannot open the PostgreSQL store at postgres:\/\/postgres@127\.0\.0\.1:\d+\/nowhere/,
      );
      assert.match(err.message, /timeout/i);
      assert.doesNotMatch(err.message, /secret-word/);
      return true;
    });
  });

  it('refuses a URL that is not a PostgreSQL one', async () => {
    await assert.rejects(PostgresStore.open('mysql://root@127.0.0.1/x'), /not a PostgreSQL URL/);
  });
});
