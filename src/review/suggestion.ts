// Whether a suggested change can still be applied, and the edit that applies it.
//
// A suggestion replaces whole lines [startLine, endLine] of a file's head as they were when it was
// made. Its anchor is the code point range of those lines including the last line's terminator,
// moved through every later edit like a comment's anchor (text inserted at its start pushes it
// down, text inserted at its end stays outside). The terminator inside the range is what makes
// the decision sound: text typed at the end of the last line lands before it, inside the range,
// and shows up as a change.
//
// The suggestion applies only while the range holds exactly the original text and is still a run
// of whole lines; anything else is a conflict, never a guess at where the lines went.
import { codePointLength, transformPosition, utf16Index, type TextOp } from '../ot/text.js';
import { lineRange } from '../ot/lines.js';

/** Code point range [start, end) in a file's current text. */
export interface SuggestionAnchor {
  start: number;
  end: number;
}

export interface SuggestionTarget {
  anchor: SuggestionAnchor;
  /** The text of the lines, including the last line's terminator when it has one. */
  originalText: string;
}

export type SuggestionConflict =
  /** Every character of the lines was deleted. */
  | 'lines_deleted'
  /** Some characters of the lines were deleted, nothing else changed in them. */
  | 'lines_partly_deleted'
  /** The lines' text was changed. */
  | 'lines_edited'
  /** The lines are no longer whole lines: a line break next to them was removed, or text was
   * typed right before the first or right after the last (which has no terminator). */
  | 'lines_joined'
  /** The anchor does not fit the text (a bug upstream; never applied). */
  | 'anchor_invalid';

export type SuggestionDecision =
  | {
      status: 'applicable';
      /** Replaces the range's text with the replacement, touching nothing outside the range; []
       * when the replacement equals the lines. */
      op: TextOp;
    }
  | { status: 'conflicting'; reason: SuggestionConflict; message: string };

/** The target of a suggestion on lines [startLine, endLine] (1-based, inclusive) of `text`, or
 * undefined when the text has no such lines. The empty line after a final line break counts
 * (a suggestion there adds text at the end of the file). */
export function suggestionTarget(
  text: string,
  startLine: number,
  endLine: number,
): SuggestionTarget | undefined {
  if (!(endLine >= startLine)) return undefined;
  const first = lineRange(text, startLine);
  const last = first && lineRange(text, endLine);
  if (!first || !last) return undefined;
  const originalText = text.slice(utf16Index(text, first.start), utf16Index(text, last.end));
  return { anchor: { start: first.start, end: last.end }, originalText };
}

/** Moves an anchor through a committed edit (the rule comment anchors follow). */
export function moveSuggestionAnchor(anchor: SuggestionAnchor, op: TextOp): SuggestionAnchor {
  const start = transformPosition(anchor.start, op, true);
  return { start, end: Math.max(start, transformPosition(anchor.end, op, false)) };
}

/**
 * The replacement text for suggested lines given as a list (as in a GitHub suggestion block):
 * joined with the original's line ending, ending with a terminator when the original did. No
 * lines: the lines are deleted.
 */
export function replacementFromLines(lines: readonly string[], originalText: string): string {
  if (lines.length === 0) return '';
  const eol = /\r\n/.test(originalText) ? '\r\n' : '\n';
  return lines.join(eol) + (originalText.endsWith('\n') ? eol : '');
}

/** What a caller may already know of a text, which saves scanning all of it per suggestion. */
export interface KnownText {
  /** Its length in code points. */
  codePoints: number;
  /** It holds no surrogate: code point offsets are string indexes. */
  bmpOnly: boolean;
}

/** Decides whether a suggestion applies to `text`, the file's current text, given its anchor
 * moved through every edit since it was made. */
export function decideSuggestion(input: {
  text: string;
  anchor: SuggestionAnchor;
  originalText: string;
  replacement: string;
  known?: KnownText;
}): SuggestionDecision {
  const { text, anchor, originalText, replacement, known } = input;
  const { start, end } = anchor;
  const fits = Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end >= start;
  if (!fits || end > (known ? known.codePoints : codePointLength(text))) {
    return conflict('anchor_invalid', `the suggestion's range [${start}, ${end}) does not fit the text`);
  }
  if (originalText !== '' && start === end) {
    return conflict('lines_deleted', 'the lines of the suggestion were deleted');
  }
  const from = known?.bmpOnly ? start : utf16Index(text, start);
  const to = known?.bmpOnly ? end : utf16Index(text, end);
  const current = text.slice(from, to);
  if (current !== originalText) {
    return current.length < originalText.length && isSubsequence(current, originalText)
      ? conflict('lines_partly_deleted', 'part of the lines of the suggestion was deleted')
      : conflict('lines_edited', 'the lines of the suggestion were edited since it was made');
  }
  const startsLine = from === 0 || text.charCodeAt(from - 1) === 10;
  // A last line without terminator may have gained one (lines appended after it). A "\n" right
  // after a line ending in "\r" would make "\r\n" its terminator: its text would lose the "\r".
  const endsLine =
    originalText.endsWith('\n') ||
    to === text.length ||
    text.startsWith('\r\n', to) ||
    (text.startsWith('\n', to) && !originalText.endsWith('\r'));
  if (!startsLine || !endsLine) {
    return conflict('lines_joined', 'the lines of the suggestion were joined with the text next to them');
  }
  return { status: 'applicable', op: replaceOp(start, originalText, replacement) };
}

/** The op replacing `original` at code point `start` by `replacement`, leaving out what both
 * share at their start and end, so that anchors and cursors on unchanged lines of the range stay. */
function replaceOp(start: number, original: string, replacement: string): TextOp {
  const a = Array.from(original);
  const b = Array.from(replacement);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const deleted = a.length - head - tail;
  const inserted = b.slice(head, b.length - tail).join('');
  if (deleted === 0 && inserted === '') return [];
  const op: TextOp = [];
  if (start + head > 0) op.push(start + head);
  if (deleted > 0) op.push({ d: deleted });
  if (inserted) op.push(inserted);
  return op;
}

/** Whether `short` is `long` with some characters left out (only deletions happened). */
function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (let j = 0; i < short.length && j < long.length; j++) if (short[i] === long[j]) i++;
  return i === short.length;
}

function conflict(reason: SuggestionConflict, message: string): SuggestionDecision {
  return { status: 'conflicting', reason, message };
}
