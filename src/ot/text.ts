// Text operations in Unicode code points, shared by the server and the client SDK.
//
// The operation type is ot-text-unicode (ShareDB's `text-unicode`): an op is a list of components,
// a number retains that many code points, a string inserts it, {d: n | 'text'} deletes n code points
// (or exactly 'text', which makes the op invertible). This module adds what the library leaves to
// callers: validation of untrusted ops against a document, and position transforms with an explicit
// bias, which anchors and cursors need.
import otText from 'ot-text-unicode';
import type { TextOp, TextOpComponent } from 'ot-text-unicode';

// The package is CommonJS: take `type` from its exports object. Its declared type omits the
// invertible-op helpers that the implementation has (makeInvertible, invert, stripInvertible).
const type = otText.type as typeof otText.type & {
  makeInvertible(op: TextOp, doc: string): TextOp;
  invert(op: TextOp): TextOp;
  stripInvertible(op: TextOp): TextOp;
};

export type { TextOp, TextOpComponent };

/**
 * A copy of `s` that holds on to nothing else. V8 represents a slice of 13 or more characters as a
 * view into the string it was cut from, so a line or a deleted word kept in an event or a history
 * entry would keep the whole document version it came from alive (measured: a 100-character line
 * of a 1 MB text kept 1 MB). Concatenating builds a new string; slicing that flattens it into a
 * fresh one of the piece's own size.
 */
export function detach(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

/** Number of code points in `s` (a surrogate pair counts once). */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Whether `s` holds a UTF-16 surrogate (a code point outside the BMP). Without one, code point
 * offsets are string indexes, and the O(n) conversions between them can be skipped. */
export function hasSurrogate(s: string): boolean {
  return /[\uD800-\uDFFF]/.test(s);
}

/** How many code points `op` adds to the length of the document it applies to (negative: removes). */
export function lengthChange(op: TextOp): number {
  let n = 0;
  for (const c of op) {
    if (typeof c === 'string') n += codePointLength(c);
    else if (typeof c === 'object') n -= deleteLength(c.d);
  }
  return n;
}

/** UTF-16 index of code point offset `cp` in `s` (clamped to the string's end). */
export function utf16Index(s: string, cp: number): number {
  let i = 0;
  for (let seen = 0; seen < cp && i < s.length; seen++) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
  }
  return i;
}

function deleteLength(d: number | string): number {
  return typeof d === 'number' ? d : codePointLength(d);
}

/** Applies `op` to `doc`. The op must already be checked against the document. `bmpOnly`: the
 * caller knows `doc` has no surrogate pairs, so code point offsets are UTF-16 offsets and nothing
 * needs converting (the library walks the text to convert each offset: on a 20 KB file that was
 * most of the SDK's cost per remote edit, bench/sdk-cost.ts). Inserts may hold any text. */
export function applyOp(doc: string, op: TextOp, bmpOnly = false): string {
  if (!bmpOnly) return type.apply(doc, op);
  let out = '';
  let at = 0;
  for (const c of op) {
    if (typeof c === 'number') {
      out += doc.slice(at, at + c);
      at += c;
    } else if (typeof c === 'string') out += c;
    else at += typeof c.d === 'number' ? c.d : c.d.length;
    // As the library does: an op longer than the document is an error, never a silent truncation
    // (the SDK resyncs on it).
    if (at > doc.length) throw new Error('Operation goes past the end of the document');
  }
  return at === 0 ? out + doc : out + doc.slice(at);
}

/** Transforms `op` so that it applies after `against`. `side` breaks ties between inserts at the
 * same position: 'left' puts `op`'s insert first. */
export function transformOp(op: TextOp, against: TextOp, side: 'left' | 'right'): TextOp {
  return type.transform(op, against, side);
}

export function composeOps(a: TextOp, b: TextOp): TextOp {
  return type.compose(a, b);
}

/** Records the deleted text in `op`'s deletes (needed to invert it), given the document it applies
 * to. The deleted pieces are detached copies: kept in a file's history, slices would keep every
 * version of the document they were cut from alive (memory = history length x file size). */
export function makeInvertible(op: TextOp, doc: string): TextOp {
  // Without deletes (most keystrokes) there is nothing to record, and no component of the op is
  // mutable (numbers and strings): it is its own invertible form, with no copy per edit.
  if (!op.some((c) => typeof c === 'object')) return op;
  return type
    .makeInvertible(op, doc)
    .map((c) => (typeof c === 'object' && typeof c.d === 'string' ? { d: detach(c.d) } : c));
}

/** Inverse of an invertible op. */
export function invertOp(op: TextOp): TextOp {
  return type.invert(op);
}

/** Replaces deleted text by counts: the compact form for the wire and the log. */
export function stripInvertible(op: TextOp): TextOp {
  // Most ops delete nothing, or by count: they are their own compact form (no copy per edit).
  for (const c of op) if (typeof c === 'object' && typeof c.d === 'string') return type.stripInvertible(op);
  return op;
}

/** Whether `op` is what the library's normalize() would make of it (no empty components, no two
 * of a kind in a row, no trailing retain), so the copy normalize() makes can be skipped: clients
 * send normalized ops, and this runs for every edit. */
export function isNormalized(op: TextOp): boolean {
  let last: string | undefined;
  for (const c of op) {
    const kind = typeof c;
    if (kind === last) return false;
    if (typeof c === 'number' ? !(c > 0) : typeof c === 'string' ? c.length === 0 : !(deleteLength(c.d) > 0))
      return false;
    last = kind;
  }
  return last !== 'number';
}

/** How many code points of the input document `op` reads (retains plus deletes). */
export function inputLength(op: TextOp): number {
  let n = 0;
  for (const c of op) {
    if (typeof c === 'number') n += c;
    else if (typeof c === 'object') n += deleteLength(c.d);
  }
  return n;
}

/**
 * Normalizes an untrusted op and checks it against a document of `docLength` code points.
 * Returns the normalized op or a description of what is wrong (never throws).
 */
export function checkOp(op: TextOp, docLength: number): { op: TextOp } | { problem: string } {
  // Measure before normalizing: normalization drops a trailing retain, which must still fit.
  const reads = inputLength(op);
  if (reads > docLength) {
    return { problem: `operation spans ${reads} code points but the document has ${docLength}` };
  }
  let normalized: TextOp;
  try {
    normalized = isNormalized(op) ? op : type.normalize(op);
    type.checkOp(normalized);
  } catch (err) {
    return { problem: `invalid operation: ${(err as Error).message}` };
  }
  return { op: normalized };
}

/**
 * Where position `pos` (a code point offset in the document before `op`) ends up after `op`.
 * `pushedByInsertAt`: whether an insert exactly at `pos` moves it forward (true for the start of an
 * anchor: text inserted at a line's start pushes the line down; false for its end).
 */
export function transformPosition(pos: number, op: TextOp, pushedByInsertAt: boolean): number {
  let oldIndex = 0;
  let shift = 0;
  for (const c of op) {
    if (typeof c === 'number') {
      oldIndex += c;
      if (oldIndex > pos) break;
    } else if (typeof c === 'string') {
      if (oldIndex < pos || (oldIndex === pos && pushedByInsertAt)) shift += codePointLength(c);
      else break;
    } else {
      if (oldIndex >= pos) break;
      const end = oldIndex + deleteLength(c.d);
      shift -= Math.min(end, pos) - oldIndex;
      oldIndex = end;
    }
  }
  return pos + shift;
}
