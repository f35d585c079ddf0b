// Property: 2-8 clients on real gRPC streams make random concurrent edits (inserts, deletes,
// multi-line, outside the BMP, emoji, CRLF) with random delays, so their base versions go stale at
// random; at quiescence every client's text equals the server's and a late joiner's snapshot.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { codePointLength } from '../src/ot/text.js';
import type { TextOp } from '../src/ot/text.js';
import { unaryCall } from './helpers/clients.js';
import { TestEditor } from './helpers/editor.js';
import { serverFixture } from './helpers/server.js';

const PIECES = ['a', 'b', 'Z', ' ', '\n', '\r\n', 'é', '😀', '𝄞', '👩‍💻', 'line\n', '{\n  x;\n}', '\t'];
const text = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 5 }).map((a) => a.join(''));

const editIntent = fc.record({
  kind: fc.constantFrom('insert', 'delete', 'replace'),
  at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  span: fc.double({ min: 0, max: 0.5, noNaN: true }),
  text,
  pauseMs: fc.integer({ min: 0, max: 3 }),
});
type Intent = typeof editIntent extends fc.Arbitrary<infer T> ? T : never;

/** Turns an intent into an op on the client's current text (positions in code points). */
function opFor(intent: Intent, current: string): TextOp | undefined {
  const length = codePointLength(current);
  const at = Math.floor(intent.at * (length + 1));
  const span = Math.min(length - at, Math.max(1, Math.floor(intent.span * length)));
  const op: TextOp = [];
  if (at > 0) op.push(at);
  if (intent.kind !== 'insert' && span > 0) op.push({ d: span });
  if (intent.kind !== 'delete') op.push(intent.text);
  return op.length === 0 || (op.length === 1 && typeof op[0] === 'number') ? undefined : op;
}

const scenario = fc.record({
  initial: fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((a) => a.join('')),
  clients: fc.array(
    fc.record({
      edits: fc.array(editIntent, { minLength: 1, maxLength: 6 }),
      lagMs: fc.integer({ min: 0, max: 3 }),
      lagSeed: fc.integer(),
    }),
    { minLength: 2, maxLength: 8 },
  ),
});

/** Deterministic processing delays for a client (mulberry32), so a failing seed replays alike. */
function lag(maxMs: number, seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    if (maxMs === 0) return 0;
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % (maxMs + 1);
  };
}

const RUNS = Number(process.env.LIVEREVIEW_PROPERTY_RUNS ?? 200);

// In memory (its group commit answers a turn's appends together) and on the durable SQLite store
// (its commits wait for a WAL flush off the event loop while later ones gather): the batching must
// keep convergence.
for (const store of ['memory', 'sqlite'] as const) {
  describe(`convergence (property), ${store} store`, () => {
    const fx = serverFixture({
      logLevel: 'warn',
      ...(store === 'sqlite' ? { data: mkdtempSync(join(tmpdir(), 'lr-prop-')) } : {}),
    });
    let run = 0;
    const runs = store === 'memory' ? RUNS : Math.max(1, Math.round(RUNS / 4));

    it(`every fx.client converges to the server's text and a late joiner's (${runs} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async ({ initial, clients }) => {
          const sessionId = `prop-${++run}`;
          await unaryCall(fx.client.openReview.bind(fx.client), {
            sessionId,
            userId: 'author',
            clientMessageId: 'open',
            files: [{ path: 'f.txt', text: initial }],
          });
          const editors = clients.map(
            (c, i) => new TestEditor(fx.client, sessionId, `user${i}`, `client${i}`, lag(c.lagMs, c.lagSeed)),
          );
          try {
            await Promise.all(editors.map((e) => e.ready));
            await Promise.all(
              clients.map(async (c, i) => {
                for (const intent of c.edits) {
                  if (intent.pauseMs) await new Promise((r) => setTimeout(r, intent.pauseMs));
                  editors[i]!.edit('f.txt', (t) => opFor(intent, t));
                }
              }),
            );
            const state = await waitForQuiescence(editors);
            for (const e of editors) assert.equal(e.text('f.txt'), state.text, `${e.clientId} diverged`);
            const late = new TestEditor(fx.client, sessionId, 'late', 'late');
            await late.ready;
            assert.equal(late.text('f.txt'), state.text, 'the late joiner snapshot');
            assert.equal(late.docs.get('f.txt')!.version, state.version);
            late.close();
            for (const e of editors) assert.deepEqual(e.errors, [], `${e.clientId} got errors`);
          } finally {
            for (const e of editors) e.close();
          }
        }),
        { numRuns: runs, verbose: 1 },
      );

      async function waitForQuiescence(editors: TestEditor[]) {
        const deadline = Date.now() + 20_000;
        for (;;) {
          if (Date.now() > deadline) {
            const report = editors.map((e) => {
              const d = e.docs.get('f.txt');
              const errors = e.errors.map((m) =>
                JSON.stringify(m.payload?.$case === 'error' ? m.payload.value.status?.message : ''),
              );
              return `${e.clientId}: v${d?.version} synced=${d?.synced} errors=${errors.join(';')}`;
            });
            throw new Error(`no quiescence: ${report.join(' | ')}`);
          }
          const s = await unaryCall(fx.client.getSession.bind(fx.client), { sessionId: `prop-${run}` });
          const file = s.files.find((f) => f.path === 'f.txt')!;
          const allSynced = editors.every((e) => e.docs.get('f.txt')?.synced);
          if (allSynced) {
            const again = await unaryCall(fx.client.getSession.bind(fx.client), { sessionId: `prop-${run}` });
            const f2 = again.files.find((f) => f.path === 'f.txt')!;
            if (f2.version === file.version) {
              await Promise.all(editors.map((e) => e.settled('f.txt', f2.version)));
              return f2;
            }
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    });
  });
}
