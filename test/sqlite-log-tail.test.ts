// The durable store commits to the log's tail and copies it into the session log off the commit
// path (src/store/sqlite/log-tail.ts): what that must keep — every acknowledged event readable
// exactly once at every moment, across a stop without closing, no sequence number lost — and what it
// is for: a commit writes a page or two, not two per session.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { LoggedEvent } from '../src/core/model.js';
import { TAIL_FILE, type KeptDuplicate } from '../src/store/sqlite/log-tail.js';
import { DATABASE_FILE, SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { bin } from './helpers/child-server.js';

const QUIET = { checkpointIntervalMs: 1e9, tailCopyIntervalMs: 1e9 };

function event(sessionId: string, seq: number, clientMessageId = `m${seq}`): LoggedEvent {
  return {
    sessionId,
    seq,
    at: 1_700_000_000_000 + seq,
    origin: { userId: 'u', clientId: 'c', clientMessageId },
    change: {
      kind: 'edit',
      path: 'f.ts',
      version: seq,
      op: [seq - 1, 'x'],
      line: 1,
      lineText: 'x'.repeat(200),
    },
  };
}

/** Appends one event to each of `sessions` sessions in one group commit, `rounds` times. */
async function typeRounds(store: SqliteStore, heads: Map<string, number>, sessions: number, rounds: number) {
  for (let r = 0; r < rounds; r++) {
    const appends = [];
    for (let s = 0; s < sessions; s++) {
      const id = `s${s}`;
      const head = heads.get(id) ?? 0;
      heads.set(id, head + 1);
      appends.push(store.append(id, head, [event(id, head + 1)]));
    }
    for (const result of await Promise.all(appends)) assert.deepEqual(result, { ok: true });
  }
}

const countRows = (file: string, table: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('SQLite store: the log tail', () => {
  it('writes a page or two of log per commit, not a page of the log and of its index per session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-tail-'));
    const store = new SqliteStore(dir, QUIET);
    const heads = new Map<string, number>();
    await typeRounds(store, heads, 40, 1); // sessions exist
    const before = statSync(join(dir, `${TAIL_FILE}-wal`)).size;
    await typeRounds(store, heads, 40, 30);
    const perEvent = (statSync(join(dir, `${TAIL_FILE}-wal`)).size - before) / (40 * 30);
    await store.close();
    // ~300 bytes per event in the tail's pages; appended to `events` and its origin index, each
    // commit of 40 sessions wrote ~80 pages of 4 KB (~8 KB per event).
    assert.ok(perEvent < 1024, `log bytes per event: ${perEvent}`);
  });

  it('copies the tail into the session log as commits go on, and every read sees each event once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-tail-'));
    const store = new SqliteStore(dir, { checkpointIntervalMs: 10, tailCopyIntervalMs: 20 });
    const heads = new Map<string, number>();
    const started = Date.now();
    let rounds = 0;
    while (Date.now() - started < 1500 || rounds < 50) {
      await typeRounds(store, heads, 5, 1);
      rounds++;
      for (const id of ['s0', 's4']) {
        const seqs = (await store.readEvents(id, 0, 1e6)).map((e) => e.seq);
        assert.deepEqual(
          seqs,
          Array.from({ length: heads.get(id)! }, (_, i) => i + 1),
          `${id} after round ${rounds}`,
        );
        const page = (await store.readEvents(id, 2, 3)).map((e) => e.seq);
        assert.deepEqual(
          page,
          [3, 4, 5].filter((s) => s <= heads.get(id)!),
        );
        const loaded = await store.load(id, 0);
        assert.deepEqual(
          loaded?.events.map((e) => e.seq),
          seqs,
        );
        assert.equal(await store.firstRetainedSeq(id), 1);
      }
      assert.deepEqual(
        await store.heads(['s0', 's3']),
        new Map([
          ['s0', rounds],
          ['s3', rounds],
        ]),
      );
    }
    // While the store runs: most events are in the session log, and left the tail.
    const copied = countRows(join(dir, DATABASE_FILE), 'events');
    assert.ok(copied > 0, `events copied into the session log: ${copied} of ${rounds * 5}`);
    await store.close();
    assert.equal(countRows(join(dir, DATABASE_FILE), 'events'), rounds * 5, 'all of it once closed');
    assert.equal(countRows(join(dir, TAIL_FILE), 'event_tail'), 0, 'and the tail is empty');
  });

  it('keeps what the tail held when the process stops without closing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-tail-'));
    const store = new SqliteStore(dir, QUIET);
    const heads = new Map<string, number>();
    await typeRounds(store, heads, 3, 20);
    // The files as a process killed now would leave them: every append acknowledged (durable), the
    // store never closed.
    const crashed = mkdtempSync(join(tmpdir(), 'lr-tail-crashed-'));
    cpSync(dir, crashed, { recursive: true, filter: (src) => !src.endsWith('.lock') });
    await store.close();
    assert.ok(countRows(join(crashed, TAIL_FILE), 'event_tail') > 0, 'the copy holds events in the tail');

    const reopened = new SqliteStore(crashed, QUIET);
    try {
      assert.deepEqual(await reopened.heads(['s0', 's1', 's2']), heads);
      const events = await reopened.readEvents('s1', 0, 100);
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      assert.deepEqual(events[4], event('s1', 5));
      assert.deepEqual(await reopened.append('s1', 20, [event('s1', 21)]), { ok: true });
    } finally {
      await reopened.close();
    }
    assert.equal(countRows(join(crashed, DATABASE_FILE), 'events'), 61);
  });

  it("takes the engine's word that a message is new; one committed twice is kept in sequence without its id, and reported", async () => {
    // The engine asks before it appends (core/dedupe.ts); the store does not ask again. Should a
    // resend get through anyway, the log must not lose a sequence number over it.
    const dir = mkdtempSync(join(tmpdir(), 'lr-tail-'));
    const reported: KeptDuplicate[] = [];
    const observer = {
      walFlushed() {},
      commitsHeld() {},
      duplicatesKept: (d: readonly KeptDuplicate[]) => reported.push(...d),
    };
    const once = { userId: 'u', clientId: 'c', clientMessageId: 'once' };
    let store = new SqliteStore(dir, { ...QUIET, observer });
    assert.deepEqual(await store.append('s', 0, [event('s', 1, 'once')]), { ok: true });
    assert.deepEqual(await store.append('s', 1, [event('s', 2, 'once')]), { ok: true });
    await store.close(); // copies the tail: both rows in one copy
    assert.deepEqual(reported, [{ sessionId: 's', seq: 2, clientId: 'c', clientMessageId: 'once' }]);

    // Once the first is in the session log, by the worker's copy.
    store = new SqliteStore(dir, { checkpointIntervalMs: 10, tailCopyIntervalMs: 20, observer });
    try {
      assert.deepEqual(await store.append('s', 2, [event('s', 3, 'once')]), { ok: true });
      let next = 4;
      while (reported.length < 2) {
        // Commits go on meanwhile, and ask for the copies.
        assert.deepEqual(await store.append('s', next - 1, [event('s', next, `m${next}`)]), { ok: true });
        next++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.deepEqual(reported[1], { sessionId: 's', seq: 3, clientId: 'c', clientMessageId: 'once' });
      const events = await store.readEvents('s', 0, 1000);
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: next - 1 }, (_, i) => i + 1),
        'no sequence number missing',
      );
      assert.deepEqual(
        events.slice(0, 3).map((e) => e.origin.clientMessageId),
        ['once', '', ''],
      );
      assert.deepEqual(events[1], { ...event('s', 2, ''), origin: { ...once, clientMessageId: '' } });
      assert.equal((await store.findByOrigin('s', once))?.seq, 1);
    } finally {
      await store.close();
    }
    assert.equal(reported.length, 2, 'each reported once');
  });

  it('reads tail events back whole, by sequence and by origin, two clients sharing a message id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-tail-'));
    const store = new SqliteStore(dir, QUIET);
    try {
      const first = event('s', 1, 'same');
      const second: LoggedEvent = {
        ...event('s', 2),
        origin: { userId: 'v', clientId: 'd', clientMessageId: 'same' },
      };
      const third = event('s', 3, 'other');
      for (const e of [first, second, third])
        assert.deepEqual(await store.append('s', e.seq - 1, [e]), { ok: true });
      assert.deepEqual(await store.readEvents('s', 0, 10), [first, second, third]);
      assert.deepEqual(await store.readEvents('s', 1, 1), [second]);
      assert.deepEqual(await store.findByOrigin('s', first.origin), first);
      assert.deepEqual(await store.findByOrigin('s', second.origin), second);
      assert.equal(await store.findByOrigin('s', { ...first.origin, userId: 'w' }), undefined);

      // An append that cannot be written, committed together with another session's event: the
      // transaction fails whole, and the other session's event is not left in the tail either.
      const [other, broken] = await Promise.allSettled([
        store.append('t', 0, [event('t', 1)]),
        store.append('s', 3, [event('s', 5)]),
      ]);
      assert.equal(broken.status, 'rejected');
      assert.match(String((broken as PromiseRejectedResult).reason), /seq 5 is not 4/);
      assert.equal(other.status, 'rejected');
      assert.deepEqual(await store.readEvents('t', 0, 10), []);
      assert.deepEqual(
        await store.heads(['s', 't']),
        new Map([
          ['s', 3],
          ['t', 0],
        ]),
      );
      assert.deepEqual(await store.append('t', 0, [event('t', 1)]), { ok: true });
      assert.deepEqual(await store.readEvents('t', 0, 10), [event('t', 1)]);
      assert.deepEqual(await store.append('s', 3, [event('s', 4, 'fourth')]), { ok: true });
      assert.deepEqual(await store.readEvents('s', 2, 10), [third, event('s', 4, 'fourth')]);
    } finally {
      await store.close();
    }
  });

  it('backs up what is still in the tail, and a restore leaves no tail of the database it replaces', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-tail-'));
    const store = new SqliteStore(dir, QUIET);
    const heads = new Map<string, number>();
    await typeRounds(store, heads, 2, 10);
    const backup = join(mkdtempSync(join(tmpdir(), 'lr-tail-backup-')), 'backup.db');
    const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
    // The backup tool reads the data directory from outside the process, as an operator runs it.
    const backedUp = cli('backup', '--data', dir, '--to', backup);
    assert.equal(backedUp.status, 0, backedUp.stderr);
    // After the backup: events that must not survive the restore, left in the tail as by a crash.
    await typeRounds(store, heads, 2, 5);
    const crashed = mkdtempSync(join(tmpdir(), 'lr-tail-crashed-'));
    cpSync(dir, crashed, { recursive: true, filter: (src) => !src.endsWith('.lock') });
    await store.close();
    assert.ok(countRows(join(crashed, TAIL_FILE), 'event_tail') > 0, 'the tail holds the later events');

    const restored = cli('restore', '--from', backup, '--data', crashed);
    assert.equal(restored.status, 0, restored.stderr);
    const reopened = new SqliteStore(crashed, QUIET);
    try {
      assert.deepEqual(
        await reopened.heads(['s0', 's1']),
        new Map([
          ['s0', 10],
          ['s1', 10],
        ]),
      );
      const events = await reopened.readEvents('s0', 0, 100);
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
    } finally {
      await reopened.close();
    }
  });
});
