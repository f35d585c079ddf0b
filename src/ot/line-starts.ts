// Where each line of a text starts, kept up to date as ops apply, so that the line of an offset is
// a binary search instead of a walk from the start of the file. Cursor moves, comment views and
// the line of every edit ask for it: walking a 220 KB file (5,000 lines) cost ~1.3 ms per cursor
// move and ~160 µs per edit (docs/benchmarks.md). An op costs a binary search and a scan of what
// it changed.
//
// Only for texts without surrogate pairs: there an op's code point offsets are UTF-16 indexes. A
// document that may hold others drops its index (FileDocument falls back to walking).
import type { TextOp } from './text.js';

export class LineStarts {
  /** UTF-16 index of each line's first character: 0, then one past each "\n" (4 bytes a line;
   * only the first `count` are in use). */
  private starts: Int32Array;
  private count: number;

  /** The index of `text`, or undefined when it would not be small beside the text (see fits). */
  static of(text: string): LineStarts | undefined {
    let count = 1;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) count++;
    if (!LineStarts.fits(count, text.length)) return undefined;
    const starts = new Int32Array(count);
    let n = 1;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts[n++] = i + 1;
    return new LineStarts(starts);
  }

  /** Whether an index of `lines` lines is worth keeping for a text of `length` UTF-16 units: at
   * most one line start per 8 characters (and 1,024 lines more). A text made mostly of line
   * breaks (data, or a hostile client's) would cost 4 bytes of index per byte of text: it is
   * walked instead. */
  static fits(lines: number, length: number): boolean {
    return lines <= length / 8 + 1024;
  }

  private constructor(starts: Int32Array) {
    this.starts = starts;
    this.count = starts.length;
  }

  get lineCount(): number {
    return this.count;
  }

  /** The 1-based line holding UTF-16 index `index` (a "\n" belongs to the line it ends). */
  lineAt(index: number): number {
    // The number of line starts at or before `index`.
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The UTF-16 index where 1-based line `line` starts (undefined past the last line). */
  lineStart(line: number): number | undefined {
    return line >= 1 && line <= this.count ? this.starts[line - 1] : undefined;
  }

  /** Follows `op`, applied to the text this index describes, giving `text`. */
  apply(op: TextOp, text: string): void {
    // The changed region: from the first insert or delete to the end of the last, in the old text.
    let at = 0;
    let first = -1;
    let lastOld = 0;
    let delta = 0;
    // Whether the region's new text may hold a "\n": an insert with one, or text kept between two
    // changes (its line starts are taken out with the region's and found again). Most keystrokes
    // have neither, and the new text need not be read.
    let mayHoldNewline = false;
    let keptInside = false;
    for (const c of op) {
      if (typeof c === 'number') {
        at += c;
        if (first >= 0) keptInside = true;
        continue;
      }
      if (first < 0) first = at;
      else if (keptInside) mayHoldNewline = true;
      if (typeof c === 'string') {
        delta += c.length;
        if (c.includes('\n')) mayHoldNewline = true;
      } else {
        const n = typeof c.d === 'number' ? c.d : c.d.length;
        at += n;
        delta -= n;
      }
      lastOld = at;
    }
    if (first < 0) return;
    // A line start s follows the "\n" at s - 1: it stays when that "\n" is before the region,
    // moves by the length change when it is after it, and is found again inside it.
    const keep = this.lineAt(first); // starts <= first
    const after = this.lineAt(lastOld); // starts <= lastOld
    const inside: number[] = [];
    if (mayHoldNewline) addStarts(inside, text, first, lastOld + delta);
    const count = this.count;
    let starts = this.starts;
    if (delta !== 0) for (let i = after; i < count; i++) starts[i]! += delta;
    if (inside.length === after - keep && inside.length === 0) return;
    // Lines [keep, after) give way to the region's: the tail moves by the difference.
    const newCount = count - (after - keep) + inside.length;
    if (newCount > starts.length) {
      const grown = new Int32Array(Math.max(newCount, starts.length * 2));
      grown.set(starts.subarray(0, count));
      this.starts = starts = grown;
    }
    starts.copyWithin(keep + inside.length, after, count);
    starts.set(inside, keep);
    this.count = newCount;
  }
}

/** Appends one past each "\n" of text[from, to). */
function addStarts(starts: number[], text: string, from: number, to: number): void {
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1))
    starts.push(i + 1);
}
