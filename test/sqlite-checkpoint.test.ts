// The SQLite store checkpoints its write-ahead log from a worker thread, never from the commit on
// the event loop (src/store/sqlite/wal-checkpointer.ts). What a user of the store sees: under
// commits that never pause, the log still starts over (its file stays bounded instead of holding
// every page ever written), and every acknowledged event is in the database after a reopen.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LoggedEvent } from '../src/core/model.js';
import { TAIL_FILE } from '../src/store/sqlite/log-tail.js';
import { DATABASE_FILE, SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const SESSIONS = 40;
const ROUNDS = 1500;
const PER_ROUND = 10;

function edit(sessionId: string, seq: number): LoggedEvent {
  return {
    sessionId,
    seq,
    at: 1_700_000_000_000 + seq,
    origin: { userId: 'u1', clientId: `c-${sessionId}`, clientMessageId: `c-${sessionId}:${seq}` },
    change: { kind: 'edit', path: 'a.ts', version: seq, op: [seq, 'x'.repeat(200)], line: 1, lineText: 'x' },
  } as LoggedEvent;
}

describe('SQLite store: checkpoints off the event loop', () => {
  it('keeps the write-ahead log bounded under commits that never pause, and loses nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-checkpoint-'));
    // Commits go to the tail's log; the worker's copies of the tail go to the main file's.
    const tailLog = join(dir, `${TAIL_FILE}-wal`);
    const mainLog = join(dir, `${DATABASE_FILE}-wal`);
    // Each round's appends share a transaction and the next round starts as soon as they are
    // durable: no idle moment in which a checkpoint could complete unhindered. Without restarts
    // the tail's log grows by ~4 KB per round, to ~6 MB; held to 64 frames, it starts over at
    // ~260 KB, and at ~1.3 MB once when the worker's thread waited for a core under the whole
    // suite: the bound is 2 MB, a third of the unbounded growth.
    let holds = 0;
    const store = new SqliteStore(dir, {
      checkpointIntervalMs: 10,
      tailCopyIntervalMs: 20,
      restartAtFrames: 64,
      observer: { walFlushed: () => undefined, commitsHeld: () => void holds++ },
    });
    const heads = new Map<string, number>();
    let largestLog = 0;
    let largestMainLog = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const appends = [];
      for (let k = 0; k < PER_ROUND; k++) {
        const sessionId = `s${(round * 7 + k) % SESSIONS}`;
        const head = heads.get(sessionId) ?? 0;
        heads.set(sessionId, head + 1);
        appends.push(store.append(sessionId, head, [edit(sessionId, head + 1)]));
      }
      for (const result of await Promise.all(appends)) assert.deepEqual(result, { ok: true });
      largestLog = Math.max(largestLog, statSync(tailLog).size);
      largestMainLog = Math.max(largestMainLog, statSync(mainLog).size);
    }
    await store.close();
    assert.ok(holds > 0, 'checkpoints held commits to start the log over');
    assert.ok(
      largestLog < 2 * 1024 * 1024,
      `the tail's log stayed under 2 MB (largest: ${largestLog} bytes)`,
    );
    assert.ok(
      largestMainLog < 32 * 1024 * 1024,
      `the main log stayed under 32 MB (largest: ${largestMainLog})`,
    );

    const reopened = new SqliteStore(dir);
    try {
      const durable = await reopened.heads([...heads.keys()]);
      assert.deepEqual(durable, heads, 'every acknowledged append is in the database');
      const events = await reopened.readEvents('s0', 0, 10_000);
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: heads.get('s0')! }, (_, i) => i + 1),
      );
    } finally {
      await reopened.close();
    }
  });

  it('runs its thread below the event loop, at the nice value asked for (Linux)', async (t) => {
    if (process.platform !== 'linux') return t.skip('per-thread priorities are a Linux feature');
    const base = niceOf(String(process.pid));
    if (base >= 7) return t.skip(`this process already runs at nice ${base}`);
    const dir = mkdtempSync(join(tmpdir(), 'lr-checkpoint-nice-'));
    const store = new SqliteStore(dir, { checkpointIntervalMs: 10, checkpointNice: 7 });
    try {
      // The worker starts with the first checkpoint, after a commit.
      let seq = 0;
      let found: number[] = [];
      for (let i = 0; i < 200 && found.length === 0; i++) {
        assert.deepEqual(await store.append('s', seq, [edit('s', seq + 1)]), { ok: true });
        seq++;
        await sleep(10);
        found = niceValues().filter((n) => n !== base);
      }
      assert.deepEqual(found, [7], 'one thread (the checkpointer) runs at nice 7');
      assert.equal(niceOf(String(process.pid)), base, 'the event loop keeps its priority');
    } finally {
      await store.close();
    }
  });
});

/** A thread's nice value: field 19 of /proc/self/task/<tid>/stat (after the parenthesised name). */
function niceOf(tid: string): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** The nice value of every thread of this process. */
function niceValues(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      return [niceOf(tid)];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}
