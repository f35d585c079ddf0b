// The SQLite store flushes its write-ahead log off the event loop: an append resolves only after
// the flush that covers its transaction, and until then nothing of it is visible to any read of the
// store. The flush is the store's `syncWal` option here, held and released (or failed) by the test,
// so each step is observed in order without a timer.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_SETTLE_TURNS } from '../src/core/settled-turns.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { event } from './store-conformance.js';

/** A flush the test completes (or fails) when it wants. */
class HeldFlushes {
  readonly calls: { resolve(): void; reject(err: Error): void }[] = [];
  readonly sync = (fd: number): Promise<void> => {
    assert.ok(fd > 0, 'the WAL file is open');
    return new Promise((resolve, reject) => this.calls.push({ resolve, reject }));
  };
}

/** Lets the store's group commit run (it waits for a turn of the event loop that brings no more
 * appends: src/core/settled-turns.ts), and the microtasks after it. */
async function nextTurn(): Promise<void> {
  for (let turn = 0; turn <= MAX_SETTLE_TURNS + 1; turn++) await new Promise((r) => setImmediate(r));
}

function settledState(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  return nextTurn().then(() => state);
}

function open(flushes: HeldFlushes): SqliteStore {
  return new SqliteStore(mkdtempSync(join(tmpdir(), 'lr-walflush-')), { syncWal: flushes.sync });
}

describe('SQLite store: the WAL flush off the event loop', () => {
  it('resolves an append only after its flush, and shows nothing of it before', async () => {
    const flushes = new HeldFlushes();
    const store = open(flushes);
    const appended = store.append('s', 0, [event('s', 1, 'm1'), event('s', 2, 'm2')]);
    await nextTurn();
    assert.equal(flushes.calls.length, 1, 'the transaction committed and its flush started');
    assert.equal(await settledState(appended), 'pending');
    assert.deepEqual(await store.readEvents('s', 0, 10), []);
    assert.equal(
      await store.findByOrigin('s', { userId: 'u1', clientId: 'c1', clientMessageId: 'm1' }),
      undefined,
    );
    assert.equal((await store.heads(['s'])).get('s'), 0);
    assert.equal(await store.load('s', 0), undefined);
    assert.equal(await store.firstRetainedSeq('s'), 1);

    flushes.calls[0]!.resolve();
    assert.deepEqual(await appended, { ok: true });
    assert.deepEqual(
      (await store.readEvents('s', 0, 10)).map((e) => e.seq),
      [1, 2],
    );
    assert.equal((await store.heads(['s'])).get('s'), 2);
    assert.equal(
      (await store.findByOrigin('s', { userId: 'u1', clientId: 'c1', clientMessageId: 'm2' }))?.seq,
      2,
    );
    await store.close();
  });

  it('commits the appends that arrive during a flush and flushes them together once it completes', async () => {
    const flushes = new HeldFlushes();
    const store = open(flushes);
    const first = store.append('s', 0, [event('s', 1)]);
    await nextTurn();
    const second = store.append('s', 1, [event('s', 2)]);
    const other = store.append('t', 0, [event('t', 1)]);
    await nextTurn();
    assert.equal(flushes.calls.length, 1, 'one flush at a time');

    flushes.calls[0]!.resolve();
    assert.deepEqual(await first, { ok: true });
    assert.equal(await settledState(second), 'pending');
    assert.deepEqual(
      (await store.readEvents('s', 0, 10)).map((e) => e.seq),
      [1],
      'only what the completed flush covered',
    );
    assert.deepEqual(Object.fromEntries(await store.heads(['s', 't'])), { s: 1, t: 0 });
    assert.equal(flushes.calls.length, 2, 'the next flush started for what committed meanwhile');

    flushes.calls[1]!.resolve();
    assert.deepEqual(await Promise.all([second, other]), [{ ok: true }, { ok: true }]);
    assert.deepEqual(Object.fromEntries(await store.heads(['s', 't'])), { s: 2, t: 1 });
    await store.close();
  });

  it('reports a lost race only once the winning append is durable', async () => {
    const flushes = new HeldFlushes();
    const store = open(flushes);
    const winner = store.append('s', 0, [event('s', 1)]);
    const loser = store.append('s', 0, [event('s', 1, 'other')]);
    await nextTurn();
    assert.equal(await settledState(loser), 'pending');
    flushes.calls[0]!.resolve();
    assert.deepEqual(await winner, { ok: true });
    assert.deepEqual(await loser, { ok: false, head: 1 });
    // The loser catches up by reading what won: it is there by then.
    assert.deepEqual(
      (await store.readEvents('s', 0, 10)).map((e) => e.seq),
      [1],
    );
    await store.close();
  });

  it('fails the appends of a failed flush and every append after it', async () => {
    const flushes = new HeldFlushes();
    const store = open(flushes);
    const first = store.append('s', 0, [event('s', 1)]);
    await nextTurn();
    const waiting = store.append('s', 1, [event('s', 2)]);
    await nextTurn();
    flushes.calls[0]!.reject(new Error('EIO: i/o error, fdatasync'));
    await assert.rejects(first, /could not be flushed.*EIO/);
    await assert.rejects(waiting, /could not be flushed/);
    await assert.rejects(store.append('s', 0, [event('s', 1)]), /could not be flushed/);
    assert.deepEqual(await store.readEvents('s', 0, 10), [], 'nothing unflushed is shown');
    await store.close();
  });

  it('lets a flush in flight finish before closing', async () => {
    const flushes = new HeldFlushes();
    const store = open(flushes);
    const appended = store.append('s', 0, [event('s', 1)]);
    await nextTurn();
    const closed = store.close();
    assert.equal(await settledState(closed), 'pending');
    flushes.calls[0]!.resolve();
    await closed;
    assert.deepEqual(await appended, { ok: true });
  });

  it('flushes with fdatasync by default: appends resolve and survive reopening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-walflush-'));
    let store = new SqliteStore(dir);
    const results = await Promise.all([
      store.append('s', 0, [event('s', 1)]),
      store.append('t', 0, [event('t', 1), event('t', 2)]),
    ]);
    assert.deepEqual(results, [{ ok: true }, { ok: true }]);
    await store.close();
    store = new SqliteStore(dir);
    assert.deepEqual(Object.fromEntries(await store.heads(['s', 't'])), { s: 1, t: 2 });
    await store.close();
  });
});
