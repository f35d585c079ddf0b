// A suggested change made at some version, then concurrent edits above, below and inside its
// lines: applying it gives exactly the suggested text on exactly those lines, or it is reported
// conflicting; it is never applied to other lines or to lines that changed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applyOp, checkOp, codePointLength, transformOp, type TextOp } from '../src/ot/text.js';
import { lineRange, positionOf } from '../src/ot/lines.js';
import {
  decideSuggestion,
  moveSuggestionAnchor,
  replacementFromLines,
  suggestionTarget,
  type SuggestionAnchor,
  type SuggestionDecision,
} from '../src/review/suggestion.js';

/** Applies committed ops to a text and moves the suggestion's anchor through them, as the engine does. */
function commit(text: string, anchor: SuggestionAnchor, ...ops: TextOp[]): [string, SuggestionAnchor] {
  for (const op of ops) {
    text = applyOp(text, op);
    anchor = moveSuggestionAnchor(anchor, op);
  }
  return [text, anchor];
}

function suggest(text: string, startLine: number, endLine: number, lines: string[]) {
  const target = suggestionTarget(text, startLine, endLine);
  assert.ok(target, `lines ${startLine}-${endLine}`);
  return { ...target, replacement: replacementFromLines(lines, target.originalText) };
}

function applied(text: string, decision: SuggestionDecision): string {
  assert.equal(decision.status, 'applicable', decision.status === 'conflicting' ? decision.message : '');
  return applyOp(text, (decision as { op: TextOp }).op);
}

const FILE = 'import x;\n\nfunction f() {\n  return 1;\n}\n\nexport { f };\n';

describe('suggested changes', () => {
  it('applies to the lines it was made on after edits above and below them', () => {
    const s = suggest(FILE, 3, 5, ['const f = () => 2;']);
    assert.equal(s.originalText, 'function f() {\n  return 1;\n}\n');
    const [text, anchor] = commit(
      FILE,
      s.anchor,
      ['// header\n'], // a line above
      [codePointLength('// header\nimport x;\n'), { d: 1 }], // an empty line above removed
      [
        codePointLength('// header\nimport x;\nfunction f() {\n  return 1;\n}\n\n'),
        { d: 7 },
        'module.exports = ',
      ],
    );
    assert.equal(
      applied(text, decideSuggestion({ ...s, text, anchor })),
      '// header\nimport x;\nconst f = () => 2;\n\nmodule.exports = { f };\n',
    );
  });

  it('changes only what differs, so comments on unchanged lines of the range stay', () => {
    const s = suggest(FILE, 3, 5, ['function f() {', '  return 2;', '}']);
    const decision = decideSuggestion({ ...s, text: FILE });
    const at = codePointLength('import x;\n\nfunction f() {\n  return ');
    assert.deepEqual(decision, { status: 'applicable', op: [at, { d: 1 }, '2'] });
  });

  it('is conflicting when a line inside was edited', () => {
    const s = suggest(FILE, 3, 5, ['const f = () => 2;']);
    const [text, anchor] = commit(FILE, s.anchor, [
      codePointLength('import x;\n\nfunction f() {\n  return 1'),
      ';',
    ]);
    assert.deepEqual(decideSuggestion({ ...s, text, anchor }), {
      status: 'conflicting',
      reason: 'lines_edited',
      message: 'the lines of the suggestion were edited since it was made',
    });
  });

  it('is conflicting when its lines were deleted, wholly or in part', () => {
    const s = suggest(FILE, 3, 5, ['x']);
    const start = codePointLength('import x;\n\n');
    const [gone, goneAnchor] = commit(FILE, s.anchor, [start, { d: codePointLength(s.originalText) + 1 }]);
    assert.equal(decideSuggestion({ ...s, text: gone, anchor: goneAnchor }).status, 'conflicting');
    assert.equal(
      (decideSuggestion({ ...s, text: gone, anchor: goneAnchor }) as { reason: string }).reason,
      'lines_deleted',
    );
    const [part, partAnchor] = commit(FILE, s.anchor, [start + 3, { d: 20 }]);
    assert.equal(
      (decideSuggestion({ ...s, text: part, anchor: partAnchor }) as { reason: string }).reason,
      'lines_partly_deleted',
    );
  });

  it('is conflicting when its first line was joined to the line above or text typed before it', () => {
    const s = suggest('a\nb\nc\n', 2, 2, ['B']);
    for (const op of [
      [1, { d: 1 }],
      [2, 'x'],
    ] as TextOp[]) {
      const [text, anchor] = commit('a\nb\nc\n', s.anchor, op);
      assert.equal((decideSuggestion({ ...s, text, anchor }) as { reason: string }).reason, 'lines_joined');
    }
    // A whole line inserted above is not a change to it.
    const [text, anchor] = commit('a\nb\nc\n', s.anchor, [2, 'new\n']);
    assert.equal(applied(text, decideSuggestion({ ...s, text, anchor })), 'a\nnew\nB\nc\n');
  });

  it('on a last line without line break: lines appended after it are fine, text typed on it is not', () => {
    const s = suggest('a\nb', 2, 2, ['B']);
    assert.equal(s.originalText, 'b');
    const [appended, appendedAnchor] = commit('a\nb', s.anchor, [3, '\nc']);
    assert.equal(
      applied(appended, decideSuggestion({ ...s, text: appended, anchor: appendedAnchor })),
      'a\nB\nc',
    );
    const [typed, typedAnchor] = commit('a\nb', s.anchor, [3, 'c']);
    assert.equal(decideSuggestion({ ...s, text: typed, anchor: typedAnchor }).status, 'conflicting');
  });

  it('on a last line ending in a carriage return: a line feed after it joins them, a new CRLF line does not', () => {
    const s = suggest('a\nb\r', 2, 2, ['B']);
    const [joined, joinedAnchor] = commit('a\nb\r', s.anchor, [4, '\nc']);
    assert.equal(
      (decideSuggestion({ ...s, text: joined, anchor: joinedAnchor }) as { reason: string }).reason,
      'lines_joined',
    );
    const [appended, appendedAnchor] = commit('a\nb\r', s.anchor, [4, '\r\nc']);
    assert.equal(
      applied(appended, decideSuggestion({ ...s, text: appended, anchor: appendedAnchor })),
      'a\nB\r\nc',
    );
  });

  it('applies to a line retyped identically by concurrent edits: its text is what the suggestion was made on', () => {
    const s = suggest('\r\n', 1, 1, []);
    // Concurrently: "\r\n" typed inside the line's terminator, and the line deleted.
    const typed: TextOp = [1, '\r\n'];
    const deleted = transformOp([{ d: 2 }], typed, 'left');
    const [text, anchor] = commit('\r\n', s.anchor, typed, deleted);
    assert.equal(text, '\r\n');
    assert.equal(applied(text, decideSuggestion({ ...s, text, anchor })), '');
  });

  it('keeps CRLF line endings, and deletes the lines when the suggestion has none', () => {
    const text = 'a\r\nb\r\nc\r\n';
    assert.equal(
      applied(text, decideSuggestion({ ...suggest(text, 2, 2, ['x', 'y']), text })),
      'a\r\nx\r\ny\r\nc\r\n',
    );
    assert.equal(applied(text, decideSuggestion({ ...suggest(text, 1, 2, []), text })), 'c\r\n');
  });

  it('adds text at the end of a file through its empty last line', () => {
    const s = suggest('a\n', 2, 2, ['b']);
    assert.deepEqual([s.anchor, s.originalText], [{ start: 2, end: 2 }, '']);
    assert.equal(applied('a\n', decideSuggestion({ ...s, text: 'a\n' })), 'a\nb');
    assert.equal(suggestionTarget('a\n', 3, 3), undefined);
    assert.equal(suggestionTarget('a\nb\n', 2, 1), undefined);
  });

  it('never applies with an anchor that does not fit the text', () => {
    for (const anchor of [
      { start: -1, end: 2 },
      { start: 3, end: 2 },
      { start: 0, end: 99 },
      { start: 0.5, end: 2 },
    ]) {
      const d = decideSuggestion({ text: 'a\nb\n', anchor, originalText: 'a\n', replacement: 'x\n' });
      assert.equal((d as { reason: string }).reason, 'anchor_invalid');
    }
  });
});

// The property. Every character of the document carries an identity, so the test knows what is
// left of the suggestion's lines after any edits without asking the code under test.
interface Char {
  ch: string;
  id: number;
}

function applyToChars(chars: Char[], op: TextOp, fresh: () => number): Char[] {
  const out: Char[] = [];
  let i = 0;
  for (const c of op) {
    if (typeof c === 'number') {
      out.push(...chars.slice(i, i + c));
      i += c;
    } else if (typeof c === 'string') {
      for (const ch of c) out.push({ ch, id: fresh() });
    } else {
      i += typeof c.d === 'number' ? c.d : codePointLength(c.d);
    }
  }
  out.push(...chars.slice(i));
  return out;
}

/** Whether [start, end) of `text` is a run of whole lines (src/ot/lines.ts), the last one with its
 * terminator when `original` had one. */
function wholeLines(text: string, start: number, end: number, original: string): boolean {
  const first = lineRange(text, positionOf(text, start).line)!;
  const last = lineRange(text, positionOf(text, Math.max(start, end - 1)).line)!;
  return first.start === start && (original.endsWith('\n') ? last.end : last.contentEnd) === end;
}

/** The text the characters spell. */
function textOf(chars: Char[]): string {
  return chars.map((c) => c.ch).join('');
}

const PIECES = ['a', 'b', 'x', ' ', 'é', '😀', '\r'];
const EDIT_PIECES = [...PIECES, '\n', '\r\n', '\r', 'q\n'];
const lineText = fc.array(fc.constantFrom(...PIECES), { maxLength: 4 }).map((a) => a.join(''));
const doc = fc
  .record({
    lines: fc.array(fc.record({ text: lineText, eol: fc.constantFrom('\n', '\r\n') }), {
      minLength: 1,
      maxLength: 8,
    }),
    lastTerminated: fc.boolean(),
  })
  .map(({ lines, lastTerminated }) =>
    lines.map((l, i) => l.text + (i < lines.length - 1 || lastTerminated ? l.eol : '')).join(''),
  );
const intent = fc.record({
  where: fc.constantFrom('above', 'inside', 'below', 'start', 'end'),
  at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  kind: fc.constantFrom('insert', 'delete', 'replace'),
  span: fc.integer({ min: 1, max: 4 }),
  text: fc.array(fc.constantFrom(...EDIT_PIECES), { minLength: 1, maxLength: 3 }).map((a) => a.join('')),
});
type Intent = typeof intent extends fc.Arbitrary<infer T> ? T : never;

function opFor(i: Intent, text: string, anchor: SuggestionAnchor): TextOp {
  const length = codePointLength(text);
  const { start: s, end: e } = anchor;
  const pick = (lo: number, hi: number): number =>
    Math.min(length, Math.max(0, lo + Math.floor(i.at * (hi - lo + 1))));
  const pos = {
    above: () => pick(0, s),
    inside: () => pick(s, e),
    below: () => pick(e, length),
    start: () => pick(s - 1, s + 1),
    end: () => pick(e - 1, e + 1),
  }[i.where]();
  const span = Math.min(i.span, length - pos);
  const op: TextOp = [];
  if (pos > 0) op.push(pos);
  if (i.kind !== 'insert' && span > 0) op.push({ d: span });
  if (i.kind !== 'delete') op.push(i.text);
  const checked = checkOp(op, length);
  assert.ok('op' in checked);
  return checked.op;
}

const scenario = fc.record({
  doc,
  lineSeeds: fc.tuple(fc.nat(), fc.nat()),
  replacement: fc.array(lineText, { maxLength: 3 }),
  // Rounds of edits made concurrently against the same version, then serialized by transforms.
  rounds: fc.array(fc.array(intent, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
});

describe('suggested changes under concurrent edits (property)', () => {
  it('apply exactly on their lines when those are unchanged, and are conflicting whenever they changed', () => {
    let applicable = 0;
    let conflicting = 0;
    fc.assert(
      fc.property(scenario, ({ doc: initial, lineSeeds, replacement: lines, rounds }) => {
        let nextId = 0;
        const fresh = (): number => nextId++;
        // Lines with something in them (the empty last line is covered above).
        const realLines = initial.endsWith('\n')
          ? initial.split('\n').length - 1
          : initial.split('\n').length;
        const a = 1 + (lineSeeds[0] % realLines);
        const b = a + (lineSeeds[1] % (realLines - a + 1));
        const target = suggestionTarget(initial, a, b)!;
        fc.pre(target.originalText !== '');
        const replacement = replacementFromLines(lines, target.originalText);
        let chars = Array.from(initial, (ch) => ({ ch, id: fresh() }));
        const original = new Set(chars.slice(target.anchor.start, target.anchor.end).map((c) => c.id));
        let text = initial;
        let anchor = target.anchor;
        for (const round of rounds) {
          const concurrent = round.map((i) => opFor(i, text, anchor));
          const committed: TextOp[] = [];
          for (let op of concurrent) {
            for (const before of committed) op = transformOp(op, before, 'left');
            committed.push(op);
            chars = applyToChars(chars, op, fresh);
            [text, anchor] = commit(text, anchor, op);
          }
        }
        assert.equal(textOf(chars), text);

        // What is left of the original lines, found by identity, and whether it was left alone.
        const survivors = chars.flatMap((c, index) => (original.has(c.id) ? [index] : []));
        const first = survivors[0]!;
        const untouched =
          survivors.length === original.size &&
          survivors[survivors.length - 1]! - first === original.size - 1 &&
          wholeLines(text, first, first + original.size, target.originalText);
        // The lines where the anchor finds them: unchanged if they hold the same text as whole lines.
        const { start, end } = anchor;
        const unchanged =
          end > start &&
          textOf(chars.slice(start, end)) === target.originalText &&
          wholeLines(text, start, end, target.originalText);

        const decision = decideSuggestion({ text, anchor, originalText: target.originalText, replacement });
        assert.equal(decision.status, unchanged ? 'applicable' : 'conflicting');
        // The anchor holds whatever is left of the lines: a suggestion never lands on other lines.
        for (const index of survivors)
          assert.ok(index >= start && index < end, `${index} outside [${start}, ${end})`);
        if (untouched) assert.deepEqual([start, end], [first, first + original.size]);
        if (decision.status === 'conflicting') {
          conflicting++;
          return;
        }
        applicable++;
        // Exactly on those lines, and nothing outside them touched.
        const before = textOf(chars.slice(0, anchor.start));
        const after = textOf(chars.slice(anchor.end));
        assert.equal(applyOp(text, decision.op), before + replacement + after);
        let pos = 0;
        for (const c of decision.op) {
          if (typeof c === 'number') pos += c;
          else {
            assert.ok(pos >= anchor.start && pos <= anchor.end, `op touches ${pos} outside the range`);
            if (typeof c === 'object') pos += c.d as number;
            assert.ok(pos <= anchor.end, `op deletes up to ${pos}, past the range`);
          }
        }
      }),
      { numRuns: 5000 },
    );
    // Both outcomes were explored, not only one.
    assert.ok(applicable > 100 && conflicting > 100, `applicable ${applicable}, conflicting ${conflicting}`);
  });
});
