// Line anchors of comments, in code points: pure functions shared by the server and the client SDK.
//
// A root comment is anchored to a line: the code point range [start, end) of the line including its
// terminator. Every committed edit moves the range: text inserted at its start pushes it down, text
// inserted at its end does not belong to it. When every code point of the range has been deleted
// the line is gone and the anchor is outdated: it stays collapsed where the line was and is never
// moved onto other code. Editing the line's content keeps the anchor on it.
import { lineRange } from './lines.js';
import { transformPosition, type TextOp } from './text.js';

export interface LineAnchor {
  start: number;
  end: number;
  outdated: boolean;
}

/** The anchor of line `line` (1-based) of `text`; an outdated anchor is collapsed at the line's
 * start (a line the text does not have: at the text's start). */
export function anchorAtLine(text: string, line: number, outdated = false): LineAnchor {
  const range = lineRange(text, line);
  const start = range?.start ?? 0;
  return { start, end: outdated || !range ? start : range.end, outdated };
}

/** Where `anchor` is after `op` (an op on the text the anchor refers to). */
export function moveAnchor(anchor: LineAnchor, op: TextOp): LineAnchor {
  const wasEmpty = anchor.start >= anchor.end;
  const start = transformPosition(anchor.start, op, true);
  const end = Math.max(start, transformPosition(anchor.end, op, false));
  return { start, end, outdated: anchor.outdated || (!wasEmpty && start >= end) };
}
