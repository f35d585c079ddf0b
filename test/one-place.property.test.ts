// Rebasing an edit through history by position arithmetic (src/ot/one-place.ts) gives exactly the op
// that the OT library's transform gives step by step, for any history: keystrokes (one insert or
// one delete at one place, the arithmetic's case) mixed with ops of any other shape (the library's
// case), deletes by count or by text, characters outside the BMP, both tie-breaking sides.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import otText from 'ot-text-unicode';
import { transformThrough } from '../src/ot/one-place.js';
import { makeInvertible, type TextOp } from '../src/ot/text.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 600);

const unit = fc.constantFrom('a', 'b', '\n', 'é', '😀', '𝄞');
const insertText = fc.string({ unit, minLength: 1, maxLength: 4 });

/** How to make an op on whatever text it meets: a keystroke most of the time, else any shape. */
const opRecipe = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: insertText }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('any' as const),
      steps: fc.array(
        fc.tuple(fc.constantFrom('retain', 'insert', 'delete'), fc.integer({ min: 1, max: 5 }), insertText),
        {
          maxLength: 6,
        },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'noop' as const }) },
);
type Recipe = typeof opRecipe extends fc.Arbitrary<infer T> ? T : never;

/** The recipe as a valid, normalized op on `doc` (`byText`: deletes carry the deleted text). */
function opOn(recipe: Recipe, doc: string, byText: boolean): TextOp {
  const points = [...doc];
  const del = (from: number, n: number) => ({ d: byText ? points.slice(from, from + n).join('') : n });
  switch (recipe.kind) {
    case 'noop':
      return [];
    case 'insert': {
      const at = recipe.at % (points.length + 1);
      return at > 0 ? [at, recipe.text] : [recipe.text];
    }
    case 'delete': {
      if (points.length === 0) return [];
      const at = recipe.at % points.length;
      const n = Math.min(recipe.n, points.length - at);
      return at > 0 ? [at, del(at, n)] : [del(at, n)];
    }
    case 'any': {
      const op: TextOp = [];
      let at = 0;
      for (const [kind, n, text] of recipe.steps) {
        const left = points.length - at;
        if (kind === 'insert') op.push(text);
        else if (left > 0) {
          const k = Math.min(n, left);
          op.push(kind === 'retain' ? k : del(at, k));
          at += k;
        }
      }
      return otText.type.normalize(op);
    }
  }
}

describe('rebasing an edit through history by position arithmetic', () => {
  it('gives the op the library gives, step by step, for any history', () => {
    fc.assert(
      fc.property(
        fc.string({ unit, maxLength: 30 }),
        opRecipe,
        fc.array(opRecipe, { maxLength: 12 }),
        fc.nat(12),
        fc.constantFrom('left' as const, 'right' as const),
        fc.boolean(),
        (start, mine, theirs, skip, side, invertibleHistory) => {
          // The history as the server keeps it: each op applies to the text the previous one left.
          const history: TextOp[] = [];
          let doc = start;
          for (const recipe of theirs) {
            const op = opOn(recipe, doc, false);
            history.push(invertibleHistory ? makeInvertible(op, doc) : op);
            doc = otText.type.apply(doc, op);
          }
          const from = Math.min(skip, history.length);
          let base = start;
          for (let i = 0; i < from; i++) base = otText.type.apply(base, history[i]!);
          const op = opOn(mine, base, false);

          let expected = op;
          for (let i = from; i < history.length; i++)
            expected = otText.type.transform(expected, history[i]!, side);
          const actual = transformThrough(op, history, from, history.length, side);
          assert.deepEqual(actual, expected);
          // And it applies to the current text, as the library's does.
          assert.equal(otText.type.apply(doc, actual), otText.type.apply(doc, expected));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('passes a delete given by its text, or any other shape, to the library unchanged in form', () => {
    const history: TextOp[] = [['x'], [2, { d: 1 }], [1, 'yz']];
    const byText: TextOp = [1, { d: 'bc' }];
    let expected = byText;
    for (const h of history) expected = otText.type.transform(expected, h, 'left');
    assert.deepEqual(transformThrough(byText, history, 0, history.length, 'left'), expected);
  });
});
