// Property: whatever the interleaving of appends from several sessions (some at a stale head),
// turns of the event loop and completions of WAL flushes, the SQLite store shows exactly the events
// of the appends it has acknowledged — none before its flush, none twice, none lost — and after a
// reopen it has at least all of them, each session's log gap-free from 1.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AppendResult } from '../src/core/store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { event } from './store-conformance.js';

const SESSIONS = ['a', 'b', 'c'];

const step = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    session: fc.constantFrom(...SESSIONS),
    events: fc.integer({ min: 1, max: 3 }),
    /** 0: at the head this writer expects; 1-2: that many events behind (a lost race). */
    stale: fc.constantFrom(0, 0, 0, 1, 2),
  }),
  fc.record({ kind: fc.constant('turn' as const) }),
  fc.record({ kind: fc.constant('flush' as const) }),
);

const nextTurn = () => new Promise((r) => setImmediate(r));

interface Issued {
  session: string;
  seqs: number[];
  ids: string[];
  outcome: AppendResult | 'pending' | Error;
}

const RUNS = Number(process.env.LIVEREVIEW_PROPERTY_RUNS ?? 200);

describe('SQLite store: pipelined WAL flush (property)', () => {
  it(`shows exactly the acknowledged appends, once each, and keeps them (${RUNS} runs)`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const dir = mkdtempSync(join(tmpdir(), 'lr-walprop-'));
        const held: (() => void)[] = [];
        const store = new SqliteStore(dir, {
          syncWal: () => new Promise<void>((resolve) => held.push(resolve)),
        });
        // What each writer believes the head is: everything it appended, acknowledged or not.
        const expected = new Map(SESSIONS.map((s) => [s, 0]));
        const issued: Issued[] = [];
        let unique = 0;

        const check = async () => {
          for (const s of SESSIONS) {
            const acked = issued
              .filter((i) => i.session === s && typeof i.outcome === 'object' && 'ok' in i.outcome)
              .filter((i) => (i.outcome as AppendResult).ok)
              .flatMap((i) => i.ids);
            const shown = (await store.readEvents(s, 0, 1000)).map((e) => e.origin.clientMessageId);
            assert.deepEqual(shown, acked, `session ${s}: shown = acknowledged, in order`);
            assert.equal((await store.heads([s])).get(s), acked.length);
          }
        };

        for (const st of steps) {
          if (st.kind === 'append') {
            const head = Math.max(0, expected.get(st.session)! - st.stale);
            const seqs = Array.from({ length: st.events }, (_, i) => head + i + 1);
            const ids = seqs.map(() => `r${run}-m${++unique}`);
            const entry: Issued = { session: st.session, seqs, ids, outcome: 'pending' };
            issued.push(entry);
            store
              .append(
                st.session,
                head,
                seqs.map((seq, i) => event(st.session, seq, ids[i])),
              )
              .then(
                (r) => {
                  entry.outcome = r;
                  // A writer that lost a race catches up with the head it was told.
                  if (!r.ok) expected.set(st.session, r.head);
                },
                (e: Error) => (entry.outcome = e),
              );
            if (st.stale === 0) expected.set(st.session, head + st.events);
          } else if (st.kind === 'flush') {
            held.shift()?.();
          }
          await nextTurn();
          await check();
        }
        // Drain: complete every flush until nothing waits.
        while (issued.some((i) => i.outcome === 'pending')) {
          held.shift()?.();
          await nextTurn();
          await check();
        }
        for (const i of issued)
          assert.ok(!(i.outcome instanceof Error), `no append failed: ${String(i.outcome)}`);
        // A lost race reports a head other than the one it expected.
        for (const i of issued) {
          const r = i.outcome as AppendResult;
          if (!r.ok) assert.notEqual(r.head, i.seqs[0]! - 1);
        }
        assert.ok(
          issued.every((i) => i.outcome !== 'pending'),
          'every append settled',
        );
        await store.close();

        const reopened = new SqliteStore(dir);
        for (const s of SESSIONS) {
          const log = await reopened.readEvents(s, 0, 1000);
          assert.deepEqual(
            log.map((e) => e.seq),
            log.map((_, i) => i + 1),
            `session ${s}: gap-free from 1`,
          );
          const acked = issued
            .filter((i) => i.session === s && (i.outcome as AppendResult).ok)
            .flatMap((i) => i.ids);
          assert.deepEqual(
            log.map((e) => e.origin.clientMessageId),
            acked,
            `session ${s}: every acknowledged event once`,
          );
        }
        await reopened.close();
        run++;
      }),
      { numRuns: RUNS },
    );
  });
});
