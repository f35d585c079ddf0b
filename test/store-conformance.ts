// One conformance suite for the Store interface, run against every adapter (memory, SQLite,
// PostgreSQL): what the engine relies on, nothing about how an adapter does it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LoggedEvent } from '../src/core/model.js';
import type { Store } from '../src/core/store.js';

let unique = 0;
const sessionName = () => `conf-${process.pid}-${++unique}`;

export function event(
  sessionId: string,
  seq: number,
  clientMessageId = '',
  clientId = 'c1',
  userId = 'u1',
): LoggedEvent {
  return {
    sessionId,
    seq,
    at: 1_700_000_000_000 + seq,
    origin: { userId, clientId, clientMessageId },
    change: {
      kind: 'edit',
      path: 'f.ts',
      version: seq,
      op: seq === 1 ? ['héllo 😀'] : [seq, { d: 1 }, 'x'],
      line: 1,
      lineText: 'héllo 😀',
    },
  };
}

export interface ConformanceOptions {
  /** Every store `open` returns works on the same data, as the instances of a cluster do. */
  shared?: boolean;
  /** Before the first and after the last test (e.g. create and drop a database). */
  before?: () => Promise<void>;
  after?: () => Promise<void>;
}

export function storeConformance(
  name: string,
  open: () => Promise<Store>,
  options: ConformanceOptions = {},
): void {
  describe(`Store conformance: ${name}`, () => {
    if (options.before) before(options.before);
    if (options.after) after(options.after);

    it('knows nothing of a session that never had an event', async () => {
      const store = await open();
      assert.equal(await store.load(sessionName(), 0), undefined);
      assert.deepEqual(await store.readEvents(sessionName(), 0, 10), []);
      assert.equal(await store.firstRetainedSeq(sessionName()), 1);
      await store.close();
    });

    it('appends in order and reads back exactly what was appended, in pages', async () => {
      const store = await open();
      const s = sessionName();
      const events = [1, 2, 3, 4, 5].map((n) => event(s, n, `m${n}`));
      assert.deepEqual(await store.append(s, 0, events.slice(0, 2)), { ok: true });
      assert.deepEqual(await store.append(s, 2, events.slice(2)), { ok: true });
      assert.deepEqual(await store.readEvents(s, 0, 100), events);
      assert.deepEqual(await store.readEvents(s, 1, 2), events.slice(1, 3));
      assert.deepEqual(await store.readEvents(s, 5, 10), []);
      const loaded = await store.load(s, 0);
      assert.equal(loaded?.snapshot, undefined);
      assert.deepEqual(loaded?.events, events);
      await store.close();
    });

    it('reports a lost optimistic race as a value and writes nothing', async () => {
      const store = await open();
      const s = sessionName();
      await store.append(s, 0, [event(s, 1)]);
      assert.deepEqual(await store.append(s, 0, [event(s, 1, 'other')]), { ok: false, head: 1 });
      assert.deepEqual(await store.readEvents(s, 0, 10), [event(s, 1)]);
      await store.close();
    });

    it('lets exactly one of two concurrent appends at the same head win', async () => {
      const store = await open();
      const s = sessionName();
      const results = await Promise.all([
        store.append(s, 0, [event(s, 1, 'a')]),
        store.append(s, 0, [event(s, 1, 'b')]),
      ]);
      assert.equal(results.filter((r) => r.ok).length, 1);
      assert.equal((await store.readEvents(s, 0, 10)).length, 1);
      await store.close();
    });

    it('appends all of a batch or none of it', async () => {
      const store = await open();
      const s = sessionName();
      await assert.rejects(store.append(s, 0, [event(s, 1), event(s, 3)]));
      assert.deepEqual(await store.readEvents(s, 0, 10), []);
      assert.deepEqual(await store.append(s, 0, [event(s, 1)]), { ok: true });
      await store.close();
    });

    it('finds a committed event by its origin (idempotent resends), scoped by user and client', async () => {
      const store = await open();
      const s = sessionName();
      await store.append(s, 0, [event(s, 1, 'm1', 'alice'), event(s, 2, 'm1', 'bob'), event(s, 3)]);
      const origin = (clientId: string, userId = 'u1') => ({ userId, clientId, clientMessageId: 'm1' });
      assert.equal((await store.findByOrigin(s, origin('bob')))?.seq, 2);
      assert.equal((await store.findByOrigin(s, origin('alice')))?.seq, 1);
      assert.equal(await store.findByOrigin(s, origin('carol')), undefined);
      // Another user naming the same client and message ids finds nothing (no hijacked dedupe).
      assert.equal(await store.findByOrigin(s, origin('alice', 'mallory')), undefined);
      // ... and may commit under them: a user cannot keep another's messages from committing by
      // reusing their ids (SQLite's unique index once lacked the user, and refused this forever).
      assert.deepEqual(await store.append(s, 3, [event(s, 4, 'm1', 'alice', 'mallory')]), { ok: true });
      assert.equal((await store.findByOrigin(s, origin('alice', 'mallory')))?.seq, 4);
      assert.equal((await store.findByOrigin(s, origin('alice')))?.seq, 1);
      await store.close();
    });

    it('reports the head of many sessions in one call', async () => {
      const store = await open();
      const a = sessionName();
      const b = sessionName();
      await store.append(a, 0, [event(a, 1), event(a, 2)]);
      await store.append(b, 0, [event(b, 1)]);
      const heads = await store.heads([a, b, sessionName()]);
      assert.deepEqual([...heads.values()], [2, 1, 0]);
      await store.close();
    });

    it('loads from the newest snapshot that keeps the requested tail, plus the events after it', async () => {
      const store = await open();
      const s = sessionName();
      await store.append(
        s,
        0,
        Array.from({ length: 10 }, (_, i) => event(s, i + 1)),
      );
      const snap = (seq: number) => ({
        seq,
        files: [{ path: 'f.ts', version: seq, text: `at ${seq}` }],
        comments: [],
      });
      await store.saveSnapshot(s, snap(4));
      await store.saveSnapshot(s, snap(8));
      const noTail = await store.load(s, 0);
      assert.deepEqual(noTail?.snapshot, snap(8));
      assert.deepEqual(
        noTail?.events.map((e) => e.seq),
        [9, 10],
      );
      const tail5 = await store.load(s, 5);
      assert.deepEqual(tail5?.snapshot, snap(4));
      assert.deepEqual(
        tail5?.events.map((e) => e.seq),
        [5, 6, 7, 8, 9, 10],
      );
      await store.close();
    });

    it('keeps any text exactly as appended (NUL, astral, lone surrogates, quotes)', async () => {
      const store = await open();
      const s = sessionName();
      const text = 'a\u0000b 😀 \ud800 "q" \\ \u2028 é';
      const e: LoggedEvent = {
        ...event(s, 1, 'm1'),
        change: { kind: 'file_opened', path: 'odd.txt', version: 1, text },
      };
      await store.append(s, 0, [e]);
      assert.deepEqual(await store.readEvents(s, 0, 10), [e]);
      await store.saveSnapshot(s, { seq: 1, files: [{ path: 'odd.txt', version: 1, text }], comments: [] });
      assert.equal((await store.load(s, 0))?.snapshot?.files[0]?.text, text);
      await store.close();
    });

    it("does not fail another session's append when one session loses a race in the same tick", async () => {
      const store = await open();
      const a = sessionName();
      const b = sessionName();
      await store.append(a, 0, [event(a, 1)]);
      const [lost, won] = await Promise.all([
        store.append(a, 0, [event(a, 1, 'late')]),
        store.append(b, 0, [event(b, 1), event(b, 2)]),
      ]);
      assert.deepEqual(lost, { ok: false, head: 1 });
      assert.deepEqual(won, { ok: true });
      assert.deepEqual(await store.readEvents(b, 0, 10), [event(b, 1), event(b, 2)]);
      await store.close();
    });

    it('answers an append made in the turn the store is closed (committed, not dropped)', async () => {
      const store = await open();
      const s = sessionName();
      const appended = store.append(s, 0, [event(s, 1, 'last')]);
      await store.close();
      assert.deepEqual(await appended, { ok: true });
    });

    if (options.shared) {
      it('gives each sequence number to exactly one of two instances appending to one session', async () => {
        const [first, second] = await Promise.all([open(), open()]);
        const s = sessionName();
        const perWriter = 25;
        // Each writer appends its own messages, learning the head from its conflicts, as the engine
        // does after reloading.
        const write = async (store: Store, writer: string) => {
          let head = 0;
          let written = 0;
          while (written < perWriter) {
            const size = 1 + (written % 3);
            const batch = Array.from({ length: Math.min(size, perWriter - written) }, (_, i) =>
              event(s, head + i + 1, `${writer}-${written + i}`, writer),
            );
            const result = await store.append(s, head, batch);
            if (result.ok) {
              head += batch.length;
              written += batch.length;
            } else {
              assert.ok(result.head > head, `a conflict reports a head past ${head}, got ${result.head}`);
              // The reported head is real: every event up to it is readable.
              assert.equal((await store.readEvents(s, 0, result.head + 10)).length >= result.head, true);
              head = result.head;
            }
          }
        };
        await Promise.all([write(first, 'a'), write(second, 'b')]);
        const log = await first.readEvents(s, 0, 1000);
        assert.deepEqual(
          log.map((e) => e.seq),
          Array.from({ length: 2 * perWriter }, (_, i) => i + 1),
        );
        const messages = log.map((e) => e.origin.clientMessageId).sort();
        const expected = ['a', 'b'].flatMap((w) => Array.from({ length: perWriter }, (_, i) => `${w}-${i}`));
        assert.deepEqual(messages, expected.sort());
        assert.deepEqual(await second.heads([s]), new Map([[s, 2 * perWriter]]));
        await Promise.all([first.close(), second.close()]);
      });
    }
  });
}
