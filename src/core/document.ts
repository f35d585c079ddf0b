// One file of a session: its text, its version, and the recent history needed to transform an
// edit made against an older version (server-side OT: base version -> transform against everything
// committed since -> apply).
import { LiveReviewError } from './errors.js';
import {
  applyOp,
  codePointLength,
  hasSurrogate,
  invertOp,
  lengthChange,
  makeInvertible,
  transformPosition,
  type TextOp,
} from '../ot/text.js';
import {
  changedLines,
  lineCount,
  lineRange,
  lineReplacement,
  offsetOf,
  positionOf,
  type LineRange,
} from '../ot/lines.js';
import { LineStarts } from '../ot/line-starts.js';
import { transformThrough } from '../ot/one-place.js';

export class FileDocument {
  /** Invertible ops; history[i] takes version historyBase + i to historyBase + i + 1. */
  private history: TextOp[] = [];
  /** lengths[i]: the text's length in code points at version historyBase + i. */
  private lengths: number[] = [];
  private historyBase: number;
  private length: number;
  /** Whether the text may hold a code point outside the BMP (set by inserts, never cleared: a
   * false "true" only costs speed). Without one, offsets need no conversion. */
  private astral: boolean;
  /** Where each line starts, built when first asked and then kept up to date; only while the text
   * is BMP-only (undefined otherwise, or not asked yet). */
  private lines: LineStarts | undefined;
  /** This file's lines are found by walking its text (see lineStarts). */
  private walkLines = false;

  constructor(
    readonly path: string,
    public text: string,
    public version: number,
    private readonly historyLimit: number,
  ) {
    this.historyBase = version;
    this.length = codePointLength(text);
    this.astral = hasSurrogate(text);
  }

  get codePoints(): number {
    return this.length;
  }

  /** What offsets into the current text need (code point offsets are indexes when BMP only). */
  get known(): { codePoints: number; bmpOnly: boolean } {
    return { codePoints: this.length, bmpOnly: !this.astral };
  }

  /** Throws the documented precondition failures for a base version this file cannot serve. */
  checkBaseVersion(baseVersion: number): void {
    if (baseVersion > this.version) {
      throw new LiveReviewError(
        'VERSION_AHEAD',
        `${this.path}: base version ${baseVersion} is ahead of the file (version ${this.version}); take a fresh snapshot`,
        { metadata: { path: this.path, version: String(this.version) } },
      );
    }
    if (baseVersion < this.historyBase) {
      throw new LiveReviewError(
        'VERSION_TOO_OLD',
        `${this.path}: base version ${baseVersion} is older than the retained history (from ${this.historyBase}); take a fresh snapshot`,
        { metadata: { path: this.path, version: String(this.version), oldest: String(this.historyBase) } },
      );
    }
  }

  /**
   * Refuses what would cost more than `budget` to bring from `baseVersion` to the current version,
   * at `perVersion` per version step (the text's length for textAt, an op's size for rebase): a
   * client far behind on a large file resyncs instead of stalling the event loop for everyone.
   */
  checkWork(baseVersion: number, perVersion: number, budget: number): void {
    this.checkBaseVersion(baseVersion);
    const behind = this.version - baseVersion;
    if (behind > 0 && behind * Math.max(1, perVersion) > budget) {
      throw new LiveReviewError(
        'VERSION_TOO_OLD',
        `${this.path}: base version ${baseVersion} is ${behind} versions behind, too far to transform in a file this size; take a fresh snapshot`,
        { metadata: { path: this.path, version: String(this.version), behind: String(behind) } },
      );
    }
  }

  lengthAt(version: number): number {
    this.checkBaseVersion(version);
    return version === this.version ? this.length : this.lengths[version - this.historyBase]!;
  }

  /** The text at an older version, by inverting the history (used for line edits and anchors made
   * against an older version, which are rare: most clients are at most a few versions behind). */
  textAt(version: number): string {
    this.checkBaseVersion(version);
    let text = this.text;
    for (let v = this.version - 1; v >= version; v--)
      text = applyOp(text, invertOp(this.history[v - this.historyBase]!));
    return text;
  }

  /** Transforms an op made against `baseVersion` so that it applies to the current version. Ties
   * with committed inserts at the same position go to the incoming op ('left'), as ShareDB does. */
  rebase(op: TextOp, baseVersion: number): TextOp {
    this.checkBaseVersion(baseVersion);
    return transformThrough(
      op,
      this.history,
      baseVersion - this.historyBase,
      this.version - this.historyBase,
      'left',
    );
  }

  /** Moves a position made against `version` to the current version. */
  rebasePosition(position: number, version: number, pushedByInsertAt: boolean): number {
    this.checkBaseVersion(version);
    let pos = position;
    for (let v = version; v < this.version; v++) {
      pos = transformPosition(pos, this.history[v - this.historyBase]!, pushedByInsertAt);
    }
    return pos;
  }

  /** The lines `op` (the last applied op) changed, in the current text: see changedLines. */
  changedLines(op: TextOp): { line: number; text: string } {
    const lines = this.lineStarts();
    return changedLines(this.text, op, this.astral, lines && ((index) => lines.lineAt(index)));
  }

  /** The 1-based line and column of code point offset `offset` in the current text (clamped). */
  positionOf(offset: number): { line: number; column: number } {
    const lines = this.lineStarts();
    if (!lines) return positionOf(this.text, offset);
    // As walking does: anything not above 0 (NaN too) is the start, a fraction rounds up.
    const index = offset > 0 ? Math.min(Math.ceil(offset), this.text.length) : 0;
    const line = lines.lineAt(index);
    return { line, column: index - lines.lineStart(line)! + 1 };
  }

  /** The code point offset of a 1-based line and column in the current text (the column clamped
   * to the line's content); undefined when the line does not exist. */
  offsetOf(line: number, column: number): number | undefined {
    const bounds = this.lineBounds(line);
    if (bounds === null) return offsetOf(this.text, line, column);
    return bounds && Math.min(bounds.start + Math.max(1, Math.floor(column)) - 1, bounds.contentEnd);
  }

  /** Line `line` (1-based) of the current text, or undefined when it has fewer lines. */
  lineRange(line: number): LineRange | undefined {
    const bounds = this.lineBounds(line);
    if (bounds === null) return lineRange(this.text, line);
    return bounds && { ...bounds, text: this.text.slice(bounds.start, bounds.contentEnd) };
  }

  /** The op replacing line `line` of the current text with `content` (see replaceLineOp). */
  replaceLineOp(line: number, content: string): TextOp | undefined {
    return lineReplacement(this.lineRange(line), line, content, () => ({
      lines: this.lines?.lineCount ?? lineCount(this.text),
      codePoints: this.length,
    }));
  }

  /** A line's bounds from the index (BMP-only text: indexes are offsets); undefined: no such
   * line; null: no index, walk the text. */
  private lineBounds(line: number): Omit<LineRange, 'text'> | undefined | null {
    const lines = this.lineStarts();
    if (!lines || !Number.isInteger(line) || line < 1) return null;
    const start = lines.lineStart(line);
    if (start === undefined) return undefined;
    const next = lines.lineStart(line + 1);
    const end = next ?? this.text.length;
    let contentEnd = next === undefined ? end : next - 1;
    if (next !== undefined && contentEnd > start && this.text.charCodeAt(contentEnd - 1) === 13) contentEnd--;
    return { start, contentEnd, end };
  }

  private lineStarts(): LineStarts | undefined {
    if (this.astral || this.walkLines) return undefined;
    this.lines ??= LineStarts.of(this.text);
    if (!this.lines) this.walkLines = true;
    return this.lines;
  }

  /** Keeps the line index with the text after `op`. It is dropped for good once the text may hold
   * astral code points (offsets are then not indexes) or once it outgrows LineStarts.fits. */
  private followLines(op: TextOp): void {
    if (!this.lines) return;
    if (!this.astral) this.lines.apply(op, this.text);
    if (this.astral || !LineStarts.fits(this.lines.lineCount, this.text.length)) {
      this.lines = undefined;
      this.walkLines = true;
    }
  }

  /** The op that made the current version (invertible form). */
  lastOp(): TextOp {
    const op = this.history.at(-1);
    if (!op || this.version === this.historyBase) throw new Error(`${this.path}: no history`);
    return op;
  }

  /** Takes back the last applied op (a commit that failed or lost its race): the previous version,
   * exactly as it was. */
  revertLast(): void {
    const last = this.history.pop();
    if (!last || this.version === this.historyBase) throw new Error(`${this.path}: nothing to revert`);
    const inverse = invertOp(last);
    this.text = applyOp(this.text, inverse);
    this.followLines(inverse);
    this.length = this.lengths.pop()!;
    this.version--;
  }

  /** Applies a checked op at the current version: the next version. */
  apply(op: TextOp): void {
    const invertible = makeInvertible(op, this.text);
    this.history.push(invertible);
    this.lengths.push(this.length);
    this.text = applyOp(this.text, op, !this.astral);
    // Incremental: recounting the whole text per edit made every keystroke O(file size).
    this.length += lengthChange(op);
    if (!this.astral) this.astral = op.some((c) => typeof c === 'string' && hasSurrogate(c));
    this.followLines(op);
    this.version++;
    // Trim in amortized chunks rather than shifting on every edit.
    if (this.history.length > this.historyLimit * 2) {
      const drop = this.history.length - this.historyLimit;
      this.history.splice(0, drop);
      this.lengths.splice(0, drop);
      this.historyBase += drop;
    }
  }
}
