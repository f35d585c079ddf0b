// Lines of a text, in code points. Lines are 1-based; a line ends at "\n" (a preceding "\r" belongs
// to the terminator, so CRLF files keep their line endings through line edits). Columns are 1-based
// code point positions within a line, as editors show them.
import { codePointLength, detach, utf16Index, type TextOp } from './text.js';

export interface LineRange {
  /** Code point offset of the line's first character. */
  start: number;
  /** Code point offset just past the line's content (before its terminator). */
  contentEnd: number;
  /** Code point offset just past the line's terminator (equals contentEnd on the last line). */
  end: number;
  /** The line's content, without terminator. */
  text: string;
}

/** Number of lines: an empty text has one (empty) line; a trailing "\n" starts a new empty line. */
export function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** UTF-16 bounds of line `line` (1-based): its start, the end of its content, the end of its
 * terminator; undefined when the text has fewer lines. */
function lineBounds(
  text: string,
  line: number,
): { startIndex: number; contentEndIndex: number; endIndex: number } | undefined {
  if (!Number.isInteger(line) || line < 1) return undefined;
  let startIndex = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', startIndex);
    if (nl === -1) return undefined;
    startIndex = nl + 1;
  }
  const nl = text.indexOf('\n', startIndex);
  const endIndex = nl === -1 ? text.length : nl + 1;
  let contentEndIndex = nl === -1 ? text.length : nl;
  if (nl !== -1 && contentEndIndex > startIndex && text.charCodeAt(contentEndIndex - 1) === 13)
    contentEndIndex--;
  return { startIndex, contentEndIndex, endIndex };
}

/** The content of line `line` (1-based) without its terminator, or undefined when the text has
 * fewer lines: lineRange's text, without counting code points up to the line (per remote edit on
 * a large file, that count was the SDK's second largest cost). */
export function lineText(text: string, line: number): string | undefined {
  const b = lineBounds(text, line);
  return b && text.slice(b.startIndex, b.contentEndIndex);
}

/** The range of line `line` (1-based), or undefined when the text has fewer lines. */
export function lineRange(text: string, line: number): LineRange | undefined {
  const b = lineBounds(text, line);
  if (!b) return undefined;
  const start = codePointLength(text.slice(0, b.startIndex));
  const content = text.slice(b.startIndex, b.contentEndIndex);
  const contentEnd = start + codePointLength(content);
  return { start, contentEnd, end: contentEnd + (b.endIndex - b.contentEndIndex), text: content };
}

/** The 1-based line and column of code point offset `offset` (clamped to the text). */
export function positionOf(text: string, offset: number): { line: number; column: number } {
  const index = utf16Index(text, Math.max(0, offset));
  let line = 1;
  let lineStartIndex = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStartIndex = i + 1;
  }
  return { line, column: codePointLength(text.slice(lineStartIndex, index)) + 1 };
}

/** The code point offset of a 1-based line and column; the column is clamped to the line's content.
 * Undefined when the line does not exist. */
export function offsetOf(text: string, line: number, column: number): number | undefined {
  const range = lineRange(text, line);
  if (!range) return undefined;
  const col = Math.max(1, Math.floor(column));
  return Math.min(range.start + col - 1, range.contentEnd);
}

/**
 * The op of a line edit: replace the content of line `line` (keeping its terminator) with
 * `content`; line count + 1 appends a line. Undefined when the line is neither.
 */
export function replaceLineOp(text: string, line: number, content: string): TextOp | undefined {
  return lineReplacement(lineRange(text, line), line, content, () => ({
    lines: lineCount(text),
    codePoints: codePointLength(text),
  }));
}

/** replaceLineOp, given the line's range (undefined: no such line) and, asked only then, the text's
 * line count and length in code points. */
export function lineReplacement(
  range: LineRange | undefined,
  line: number,
  content: string,
  size: () => { lines: number; codePoints: number },
): TextOp | undefined {
  if (range) {
    const op: TextOp = [];
    if (range.start > 0) op.push(range.start);
    if (range.contentEnd > range.start) op.push({ d: range.contentEnd - range.start });
    if (content) op.push(content);
    return op;
  }
  const { lines, codePoints } = size();
  if (line !== lines + 1) return undefined;
  return codePoints > 0 ? [codePoints, '\n' + content] : content ? [content] : [];
}

/**
 * The lines an op changed, in the text after it: the first one's number and their content (with
 * "\n" between them), so that "replace line `line` with `text`" turns the old first line into
 * them (the seed's CodeEdit for a broadcast). An edit that removed line breaks cannot be said
 * that way: the lines it joined are not removed by a line replacement.
 * `astral`: whether the text may hold code points outside the BMP (else offsets are indexes).
 * `lineAt`: the 1-based line of a UTF-16 index, when the caller keeps an index of lines (else the
 * lines before the change are counted).
 */
export function changedLines(
  text: string,
  op: TextOp,
  astral: boolean,
  lineAt?: (index: number) => number,
): { line: number; text: string } {
  let position = 0;
  let first: number | undefined;
  let last = 0;
  for (const c of op) {
    if (typeof c === 'number') {
      position += c;
      continue;
    }
    first ??= position;
    if (typeof c === 'string') position += codePointLength(c);
    last = position;
  }
  const index = (cp: number) => (astral ? utf16Index(text, cp) : Math.min(cp, text.length));
  const start = text.lastIndexOf('\n', index(first ?? 0) - 1) + 1;
  const nl = text.indexOf('\n', index(last));
  let end = nl === -1 ? text.length : nl;
  if (nl !== -1 && end > start && text.charCodeAt(end - 1) === 13) end--;
  let line = 1;
  if (lineAt) line = lineAt(start);
  else for (let i = text.indexOf('\n'); i !== -1 && i < start; i = text.indexOf('\n', i + 1)) line++;
  return { line, text: detach(text.slice(start, end)) };
}
