// A file's line index (kept up to date edit by edit) answers exactly what walking its text answers:
// the line and column of any offset, the offset of any line and column, a line's range and the op
// that replaces it (the seed's line edits), and the lines an edit changed, through any sequence of edits and take-backs — CRLF, blank lines, pastes of many lines,
// deletes across lines, and inserts that bring code points outside the BMP (after which the file
// walks its text again).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DocumentState } from '../src/client/core/document-state.js';
import { FileDocument } from '../src/core/document.js';
import { changedLines, lineRange, offsetOf, positionOf, replaceLineOp } from '../src/ot/lines.js';
import { checkOp, codePointLength, hasSurrogate, type TextOp } from '../src/ot/text.js';

const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\n', '\r', 'é'), maxLength: 80 });
const insert = fc.oneof(
  fc.string({ unit: fc.constantFrom('x', '\n', '\r', ' '), minLength: 1, maxLength: 6 }),
  fc.string({ unit: fc.constantFrom('y', '\n'), minLength: 30, maxLength: 60 }),
  fc.constantFrom('😀', '\n𝄞\n'),
);
/** An edit at a fraction of the text: delete some code points there, then insert. */
const edit = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  remove: fc.nat(12),
  insert: fc.option(insert, { nil: undefined }),
  deleteAsText: fc.boolean(),
});

/** An op of one or two edits (in text order) on `doc`, in the library's normal form. */
function opOf(doc: string, edits: { at: number; remove: number; insert?: string; deleteAsText: boolean }[]) {
  const cps = [...doc];
  const op: TextOp = [];
  let at = 0;
  const sorted = edits
    .map((e) => ({ ...e, pos: Math.floor(e.at * cps.length) }))
    .sort((a, b) => a.pos - b.pos);
  for (const e of sorted) {
    const pos = Math.max(e.pos, at);
    if (pos > at) op.push(pos - at);
    at = pos;
    const k = Math.min(e.remove, cps.length - at);
    if (k > 0) op.push({ d: e.deleteAsText ? cps.slice(at, at + k).join('') : k });
    at += k;
    if (e.insert) op.push(e.insert);
  }
  const checked = checkOp(op, cps.length);
  return 'op' in checked ? checked.op : undefined;
}

function assertSameAnswers(doc: FileDocument, probes: number[]) {
  const t = doc.text;
  const length = codePointLength(t);
  for (const p of probes) {
    const offset = Math.floor(p * (length + 2)) - 1; // also before the start and past the end
    assert.deepEqual(doc.positionOf(offset), positionOf(t, offset), `positionOf(${offset})`);
    for (const odd of [offset + 0.5, NaN, -Infinity, Infinity])
      assert.deepEqual(doc.positionOf(odd), positionOf(t, odd), `positionOf(${odd})`);
    const { line } = positionOf(t, Math.max(0, offset));
    for (const [l, c] of [
      [line, 1 + Math.floor(p * 7)],
      [line + 1, 1],
      [line - 1, 0],
      [line, 1000],
    ] as const) {
      assert.equal(doc.offsetOf(l, c), offsetOf(t, l, c), `offsetOf(${l}, ${c})`);
    }
    for (const l of [line - 1, line, line + 1, line + 2, 1.5]) {
      assert.deepEqual(doc.lineRange(l), lineRange(t, l), `lineRange(${l})`);
      assert.deepEqual(doc.replaceLineOp(l, 'new'), replaceLineOp(t, l, 'new'), `replaceLineOp(${l})`);
      assert.deepEqual(doc.replaceLineOp(l, ''), replaceLineOp(t, l, ''), `replaceLineOp(${l}, '')`);
    }
  }
}

describe('a file line index', () => {
  it('answers as walking the text does, through edits and take-backs', () => {
    fc.assert(
      fc.property(
        text,
        fc.array(fc.tuple(fc.array(edit, { minLength: 1, maxLength: 2 }), fc.boolean()), { maxLength: 25 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 6 }),
        (initial, steps, probes) => {
          const doc = new FileDocument('f', initial, 0, 100);
          assertSameAnswers(doc, probes); // builds the index
          for (const [edits, takeBack] of steps) {
            const op = opOf(doc.text, edits);
            if (!op) continue;
            const before = doc.text;
            const astralBefore = hasSurrogate(before);
            doc.apply(op);
            assert.deepEqual(
              doc.changedLines(op),
              changedLines(doc.text, op, astralBefore || hasSurrogate(doc.text)),
              'changedLines',
            );
            assertSameAnswers(doc, probes);
            if (takeBack) {
              doc.revertLast();
              assert.equal(doc.text, before);
              assertSameAnswers(doc, probes);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it("answers the same on a client's text, through local and remote edits, acks and refusals", () => {
    fc.assert(
      fc.property(
        text,
        fc.array(
          fc.tuple(
            fc.constantFrom('local', 'remote', 'ack', 'reject'),
            fc.array(edit, { minLength: 1, maxLength: 2 }),
          ),
          { maxLength: 30 },
        ),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 6 }),
        (initial, steps, probes) => {
          const doc = new DocumentState('f', initial, 0);
          let n = 0;
          const nextId = () => `m${n++}`;
          const check = () => {
            const length = codePointLength(doc.text);
            for (const p of probes) {
              const offset = Math.floor(p * (length + 2)) - 1;
              for (const o of [offset, offset + 0.5, NaN])
                assert.deepEqual(doc.positionOf(o), positionOf(doc.text, o), `positionOf(${o})`);
            }
          };
          check(); // builds the index
          for (const [kind, edits] of steps) {
            if (kind === 'local') {
              const op = opOf(doc.text, edits);
              if (op) doc.applyLocal(op, nextId);
            } else if (kind === 'remote') {
              const op = opOf(doc.serverText, edits);
              if (op) doc.applyRemote(op, doc.version + 1);
            } else if (kind === 'ack') {
              if (doc.pending) doc.acknowledge(doc.version + 1, nextId);
            } else if (doc.pending) doc.reject(nextId);
            check();
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('answers the same for a file made mostly of line breaks, which is walked rather than indexed', () => {
    const probes = [0, 0.1, 0.5, 0.9, 1];
    const dense = new FileDocument('dense', 'x\n'.repeat(100) + '\n'.repeat(20_000), 0, 100);
    assertSameAnswers(dense, probes);
    dense.apply([5, 'typed\n']);
    assertSameAnswers(dense, probes);
    // An indexed file that a paste of line breaks makes dense.
    const doc = new FileDocument('f', 'const a = 1;\n'.repeat(200), 0, 100);
    assertSameAnswers(doc, probes);
    doc.apply([13, '\n'.repeat(30_000)]);
    assertSameAnswers(doc, probes);
    doc.revertLast();
    assertSameAnswers(doc, probes);
  });
});
