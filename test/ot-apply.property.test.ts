// The fast way to apply an op to a text without surrogate pairs (UTF-16 offsets, no conversion)
// gives exactly the text the OT library's apply gives, for any op on any such text (inserts may
// bring characters outside the BMP). The SDK and the server use it whenever they know a text is
// BMP-only; the convergence property test covers switching between the two ways.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import otText from 'ot-text-unicode';
import { applyOp, checkOp, makeInvertible, stripInvertible, type TextOp } from '../src/ot/text.js';

const bmpText = fc.string({
  unit: fc.constantFrom('a', 'b', ' ', '\n', '\r', 'é', '中', '\t'),
  maxLength: 60,
});
const insertText = fc.string({
  unit: fc.constantFrom('x', 'y', '\n', '😀', 'é', '𝄞'),
  minLength: 1,
  maxLength: 5,
});

/** A valid op on a text of `length` code points: retains, inserts and deletes (counts or texts). */
function opOn(doc: string) {
  return fc
    .array(fc.tuple(fc.constantFrom('retain', 'insert', 'delete', 'deleteText'), fc.nat(8), insertText), {
      maxLength: 8,
    })
    .map((steps) => {
      const op: TextOp = [];
      let at = 0;
      for (const [kind, n, text] of steps) {
        const left = doc.length - at;
        if (kind === 'insert') op.push(text);
        else if (left === 0) continue;
        else if (kind === 'retain') {
          const k = Math.max(1, Math.min(n, left));
          op.push(k);
          at += k;
        } else {
          const k = Math.max(1, Math.min(n, left));
          op.push({ d: kind === 'delete' ? k : doc.slice(at, at + k) });
          at += k;
        }
      }
      // Normalise as the library expects: no adjacent components of the same kind.
      const normal: TextOp = [];
      for (const c of op) {
        const last = normal.at(-1);
        if (typeof c === 'number' && typeof last === 'number') normal[normal.length - 1] = last + c;
        else if (typeof c === 'string' && typeof last === 'string') normal[normal.length - 1] = last + c;
        else if (typeof c === 'object' && typeof last === 'object') {
          const a = last.d;
          const b = c.d;
          normal[normal.length - 1] = {
            d:
              typeof a === 'number' && typeof b === 'number'
                ? a + b
                : typeof a === 'string' && typeof b === 'string'
                  ? a + b
                  : (typeof a === 'number' ? a : a.length) + (typeof b === 'number' ? b : b.length),
          };
        } else normal.push(c);
      }
      while (typeof normal.at(-1) === 'number') normal.pop();
      return normal;
    });
}

/** A BMP-only text and a valid op on it. */
const textAndOp = bmpText.chain((doc) => fc.tuple(fc.constant(doc), opOn(doc)));

describe('applying an op to a BMP-only text', () => {
  it("gives the library's text, for any op (1,000 runs)", () => {
    fc.assert(
      fc.property(textAndOp, ([doc, op]) => assert.equal(applyOp(doc, op, true), applyOp(doc, op))),
      { numRuns: 1000, seed: 20261202 },
    );
  });

  it('refuses an op that reaches past the end of the text (the SDK resyncs on it)', () => {
    for (const op of [[4, 'x'], [{ d: 4 }], [2, { d: 'abc' }]] as TextOp[]) {
      assert.throws(() => applyOp('abc', op, true), 'fast path');
    }
  });
});

// The library's declared type omits stripInvertible, which its implementation has.
const library = otText.type as typeof otText.type & {
  stripInvertible(op: TextOp): TextOp;
  makeInvertible(op: TextOp, doc: string): TextOp;
};

describe('checking and compacting an op without copying it', () => {
  // Any op a client could send, normalized or not: empty components, two of a kind in a row,
  // a trailing retain, deletes by count and by text.
  const anyOp: fc.Arbitrary<TextOp> = fc.array(
    fc.oneof(
      fc.nat(4),
      fc.string({ unit: fc.constantFrom('a', '😀', '\n'), maxLength: 3 }),
      fc.nat(3).map((d) => ({ d })),
      fc.string({ unit: fc.constantFrom('b', '😀'), maxLength: 3 }).map((d) => ({ d })),
    ),
    { maxLength: 6 },
  );
  it("gives the library's normalize() and stripInvertible() (2,000 runs)", () => {
    fc.assert(
      fc.property(anyOp, (op) => {
        const expected = (() => {
          try {
            const normalized = library.normalize(structuredClone(op));
            library.checkOp(normalized);
            return normalized;
          } catch {
            return undefined;
          }
        })();
        const checked = checkOp(op, 1000);
        assert.deepEqual('op' in checked ? checked.op : undefined, expected);
        if (expected)
          assert.deepEqual(stripInvertible(expected), library.stripInvertible(structuredClone(expected)));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('making an op invertible', () => {
  it('records what the library records, for any op on any text (1,000 runs)', () => {
    fc.assert(
      fc.property(textAndOp, ([doc, op]) =>
        assert.deepEqual(makeInvertible(op, doc), library.makeInvertible(structuredClone(op), doc)),
      ),
      { numRuns: 1000 },
    );
  });
});
