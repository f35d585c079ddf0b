// The SDK counts in Unicode code points (as the wire does); CodeMirror in UTF-16 units. These turn
// one into the other: a CodeMirror change set into an SDK operation, an SDK operation into
// CodeMirror changes, and positions both ways. Text without astral characters (the usual case) has
// the same offsets in both and skips the scans.
import type { ChangeSet, ChangeSpec, Text } from '@codemirror/state';
import type { TextOp } from '../../src/client/browser.js';

const SURROGATE = /[\uD800-\uDFFF]/;

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Code points in `s`. */
export function codePoints(s: string): number {
  if (!SURROGATE.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) if (isHigh(s.charCodeAt(i)) && i + 1 < s.length) i++;
  return n;
}

/** The UTF-16 offset in `s`, from `from`, after `count` code points. */
function advance(s: string, from: number, count: number): number {
  let i = from;
  for (let n = 0; n < count && i < s.length; n++) i += isHigh(s.charCodeAt(i)) && i + 1 < s.length ? 2 : 1;
  return i;
}

/** The changes a code point operation makes to `doc`, in CodeMirror's terms. */
export function opToChanges(doc: Text, op: TextOp): ChangeSpec[] {
  const text = doc.toString();
  const astral = SURROGATE.test(text);
  const changes: ChangeSpec[] = [];
  let at = 0; // UTF-16 offset in the old document
  for (const c of op) {
    if (typeof c === 'number') at = astral ? advance(text, at, c) : at + c;
    else if (typeof c === 'string') changes.push({ from: at, insert: c });
    else {
      const n = typeof c.d === 'number' ? c.d : codePoints(c.d);
      const to = astral ? advance(text, at, n) : at + n;
      changes.push({ from: at, to });
      at = to;
    }
  }
  return changes;
}

/** A CodeMirror change set on `before` as one code point operation. */
export function changesToOp(changes: ChangeSet, before: Text): TextOp {
  const text = before.toString();
  const astral = SURROGATE.test(text);
  const cp = (from: number, to: number) => (astral ? codePoints(text.slice(from, to)) : to - from);
  const op: TextOp = [];
  let at = 0;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    if (fromA > at) op.push(cp(at, fromA));
    const ins = inserted.toString();
    if (ins) op.push(ins);
    if (toA > fromA) op.push({ d: cp(fromA, toA) });
    at = toA;
  });
  return op;
}

/** The UTF-16 offset of 1-based `line` and code point `column` (1-based) in `doc`, clamped. */
export function offsetOf(doc: Text, line: number, column: number): number {
  const l = doc.line(Math.min(Math.max(line, 1), doc.lines));
  const inLine = advance(l.text, 0, Math.max(column - 1, 0));
  return l.from + inLine;
}

/** The 1-based line and code point column of UTF-16 offset `pos` in `doc`. */
export function lineColumnOf(doc: Text, pos: number): { line: number; column: number } {
  const l = doc.lineAt(pos);
  return { line: l.number, column: codePoints(l.text.slice(0, pos - l.from)) + 1 };
}
