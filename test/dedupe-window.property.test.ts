// The dedupe window (src/core/dedupe.ts) never lets a committed message be applied twice: for any
// sequence of commits, undone commits, idle time and clients beyond the bound, a resend of a
// committed message is either answered from the window with that message's own ack, or the window
// says it may be older than what it holds (so the session asks the store). And what it answers
// from memory is exactly the recent window: each client's last `perClient` commits, minus those
// taken back, while the client is neither idle-swept nor evicted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DedupeWindow } from '../src/core/dedupe.js';
import type { LoggedEvent, Origin } from '../src/core/model.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);
const PER_CLIENT = 3;
const MAX_CLIENTS = 2;
const IDLE_MS = 1_000;

type Step =
  | { kind: 'commit'; client: number; numbered: boolean; dt: number }
  | { kind: 'undo' }
  | { kind: 'wait'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      client: fc.integer({ min: 0, max: 3 }),
      numbered: fc.boolean(),
      dt: fc.integer({ min: 1, max: 50 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'undo' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 900 }) }),
  },
);

const originOf = (client: number, id: string): Origin => ({
  userId: `user-${client % 2}`,
  clientId: `client-${client}`,
  clientMessageId: id,
});

function eventOf(seq: number, at: number, origin: Origin): LoggedEvent {
  return {
    sessionId: 's',
    seq,
    at,
    origin,
    change: { kind: 'edit', path: `f${seq % 3}.ts`, version: seq, op: [], line: seq % 7, lineText: '' },
  };
}

describe('the dedupe window', () => {
  it('answers a resend of a committed message with its own ack, or sends it to the store; from memory exactly the recent window', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const window = new DedupeWindow({ perClient: PER_CLIENT, maxClients: MAX_CLIENTS, idleMs: IDLE_MS });
        // The model: every committed event, and per client its commits in order (undone ones stay
        // as holes: they still take a place in the window).
        const committed = new Map<string, LoggedEvent>();
        const history = new Map<number, { id: string | undefined; at: number }[]>();
        const lastAt = new Map<number, number>();
        const evicted = new Set<number>();
        const undoable: { client: number; event: LoggedEvent }[] = [];
        const nextNumber = new Map<number, number>();
        let seq = 0;
        let now = 1_000_000;
        for (const s of steps) {
          if (s.kind === 'wait') {
            now += s.ms;
            continue;
          }
          if (s.kind === 'undo') {
            const last = undoable.pop();
            if (!last) continue;
            // Only the newest commit is ever taken back (a failed batch, newest first).
            window.forget(last.event);
            committed.delete(`${last.client}/${last.event.origin.clientMessageId}`);
            history.get(last.client)!.at(-1)!.id = undefined;
            seq--;
            continue;
          }
          now += s.dt;
          const n = (nextNumber.get(s.client) ?? 0) + 1;
          nextNumber.set(s.client, n);
          const id = s.numbered ? `client-${s.client}:${n}` : `msg-${s.client}-${n}-x`;
          const event = eventOf(++seq, now, originOf(s.client, id));
          window.remember(event);
          committed.set(`${s.client}/${id}`, event);
          if (!history.has(s.client) || evicted.has(s.client)) history.set(s.client, []);
          evicted.delete(s.client);
          history.get(s.client)!.push({ id, at: now });
          lastAt.set(s.client, now);
          // Beyond the bound, the client that committed least recently is forgotten altogether.
          const known = [...history.keys()].filter((c) => !evicted.has(c));
          if (known.length > MAX_CLIENTS) {
            const oldest = known.reduce((a, b) => (lastAt.get(a)! <= lastAt.get(b)! ? a : b));
            evicted.add(oldest);
          }
          undoable.length = 0;
          undoable.push({ client: s.client, event });
        }
        for (const [key, event] of committed) {
          const client = Number(key.split('/')[0]);
          const known = window.lookup(event.origin);
          const found = typeof known === 'object' ? known : undefined;
          if (found) {
            assert.equal(found.sequence, event.seq, `${key}: the ack of its own commit`);
            assert.equal(found.duplicate, true);
            assert.equal(found.path, 'path' in event.change ? event.change.path : '');
          } else {
            assert.equal(known, 'unknown', `${key}: neither answered nor sent to the store`);
          }
          // From memory: the client's last PER_CLIENT commits, unless evicted, or swept for being
          // idle (possible only if the client went IDLE_MS without committing since).
          const h = history.get(client)!;
          const k = h.findIndex((c) => c.id === event.origin.clientMessageId);
          const recent = k >= 0 && k >= h.length - PER_CLIENT;
          const times = [...h.slice(k).map((c) => c.at), now];
          const idled = times.some((t, i) => i > 0 && t - times[i - 1]! >= IDLE_MS);
          const inMemory = recent && !evicted.has(client) && !idled;
          if (inMemory) assert.ok(found, `${key}: recent, answered from memory`);
          if (!recent) assert.equal(found, undefined, `${key}: not recent, not answered from memory`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
