// The diff of a file's base text to its head text, by lines (jsdiff's Myers diff), as hunks with
// line numbers on both sides, a unified-diff renderer, and a map between base and head lines for
// comments on either side.
//
// Lines are those of src/ot/lines.ts: a line ends at "\n", a "\r" before it belongs to the
// terminator, and line numbers are 1-based. The empty line after a final "\n" (or an empty text's
// only line) is where an editor's cursor can go but it holds nothing, so, as in git, it is not a
// line of the diff; the line map still knows it.
//
// The work is bounded: Myers' algorithm costs about (lines of both texts) x (edit length), so a
// diff whose edit length (lines added + lines removed) exceeds `maxEditLength` is reported as too
// large instead of computed (at once when the line counts alone differ by more); `timeoutMs` is a
// wall-clock backstop for inputs that are huge even with few changes. Measured on the 2-core VM
// this was written on: 50,000-line files with ~1,000 scattered changed lines take ~0.4 s when the
// machine is idle and reach the 1 s backstop when other jobs load it (load average 9); a
// 1,000-line file rewritten completely ~0.13 s idle, ~0.35 s loaded; 200,000 lines with two
// changes ~0.1 s. Added and deleted files are never searched, whatever their size.
import { diffArrays } from 'diff';
import { lineCount } from '../ot/lines.js';

export interface DiffOptions {
  /** Unchanged lines shown around each change in a hunk. Default 3, as git and GitHub. */
  context?: number;
  /** Most lines added plus lines removed that a diff may have before it is reported too large.
   * Default 2000: beyond that a review shows "too large to diff" as GitHub does for large files,
   * and the cost grows with its square. */
  maxEditLength?: number;
  /** Wall-clock bound in milliseconds. Default 1000. Large files near the edit-length bound can
   * reach it on a loaded machine; the result then says so (bound 'timeout'). */
  timeoutMs?: number;
}

/** How a line ends: '' only on a last line that has no terminator. */
export type LineEnding = '\n' | '\r\n' | '';

export interface DiffLine {
  kind: 'context' | 'added' | 'removed';
  /** 1-based line number in the base text; undefined on an added line. */
  baseLine: number | undefined;
  /** 1-based line number in the head text; undefined on a removed line. */
  headLine: number | undefined;
  /** The line's content without its terminator. */
  text: string;
  eol: LineEnding;
}

/** A run of changes with their context, numbered as in a unified diff's "@@" header: a side with
 * no lines in the hunk starts at the line before it (0 at the top of the file). */
export interface DiffHunk {
  baseStart: number;
  baseCount: number;
  headStart: number;
  headCount: number;
  lines: DiffLine[];
}

export interface TextDiff {
  status: 'diffed';
  /** Lines added and removed (a changed line counts once in each). */
  added: number;
  removed: number;
  /** Empty when the texts are identical. */
  hunks: DiffHunk[];
  lineMap: LineMap;
}

export interface DiffTooLarge {
  status: 'too_large';
  /** Which bound stopped the diff. */
  bound: 'max_edit_length' | 'timeout';
  /** Says why, for people. */
  message: string;
}

export type DiffResult = TextDiff | DiffTooLarge;

export const DEFAULT_CONTEXT = 3;
export const DEFAULT_MAX_EDIT_LENGTH = 2000;
export const DEFAULT_DIFF_TIMEOUT_MS = 1000;

/** Diffs `base` to `head` by lines. Never throws; reports inputs beyond its bounds as too large. */
export function diffTexts(base: string, head: string, options: DiffOptions = {}): DiffResult {
  const context = Math.floor(Math.max(0, options.context ?? DEFAULT_CONTEXT) || 0);
  const maxEditLength = options.maxEditLength ?? DEFAULT_MAX_EDIT_LENGTH;
  const timeoutMs = options.timeoutMs ?? DEFAULT_DIFF_TIMEOUT_MS;
  const baseLines = splitLines(base);
  const headLines = splitLines(head);
  let runs: DiffRun[];
  if (base === head) {
    runs = [{ kind: 'context', count: baseLines.length }];
  } else if (baseLines.length === 0 || headLines.length === 0) {
    // An added or deleted file: nothing to search for, whatever its size.
    runs = [
      { kind: 'removed', count: baseLines.length },
      { kind: 'added', count: headLines.length },
    ];
  } else {
    // The edit length is at least the difference in line counts: refuse without searching.
    const lowerBound = Math.abs(baseLines.length - headLines.length);
    if (lowerBound > maxEditLength) return tooLarge('max_edit_length', lowerBound, maxEditLength);
    const started = Date.now();
    const changes = diffArrays(baseLines, headLines, { maxEditLength, timeout: timeoutMs });
    if (!changes) {
      const timedOut = Date.now() - started >= timeoutMs;
      return tooLarge(timedOut ? 'timeout' : 'max_edit_length', undefined, maxEditLength, timeoutMs);
    }
    runs = changes.map((c) => ({
      kind: c.added ? 'added' : c.removed ? 'removed' : 'context',
      count: c.count,
    }));
  }
  runs = runs.filter((r) => r.count > 0);
  let added = 0;
  let removed = 0;
  for (const r of runs) {
    if (r.kind === 'added') added += r.count;
    else if (r.kind === 'removed') removed += r.count;
  }
  return {
    status: 'diffed',
    added,
    removed,
    hunks: hunksOf(runs, baseLines, headLines, context),
    lineMap: new LineMap(runs, lineCount(base), lineCount(head)),
  };
}

export interface RenderOptions {
  /** File header lines ("--- a/path", "+++ b/path"); null names /dev/null (an added or deleted
   * file). Omitted: hunks only. */
  paths?: { base: string | null; head: string | null };
  /** 'as-is' (default) keeps each line's "\r\n" as git prints it; 'lf' ends every line with "\n",
   * for display (Markdown, terminals). */
  lineEndings?: 'as-is' | 'lf';
}

/** The diff in unified format, as `git diff` prints it ('' for identical texts). */
export function renderUnifiedDiff(diff: TextDiff, options: RenderOptions = {}): string {
  if (diff.hunks.length === 0) return '';
  const out: string[] = [];
  if (options.paths) {
    out.push(`--- ${options.paths.base === null ? '/dev/null' : `a/${options.paths.base}`}\n`);
    out.push(`+++ ${options.paths.head === null ? '/dev/null' : `b/${options.paths.head}`}\n`);
  }
  const keepCr = options.lineEndings !== 'lf';
  for (const hunk of diff.hunks) {
    out.push(`@@ -${range(hunk.baseStart, hunk.baseCount)} +${range(hunk.headStart, hunk.headCount)} @@\n`);
    for (const line of hunk.lines) {
      const prefix = line.kind === 'added' ? '+' : line.kind === 'removed' ? '-' : ' ';
      out.push(prefix, line.text, line.eol === '\r\n' && keepCr ? '\r\n' : '\n');
      if (line.eol === '') out.push('\\ No newline at end of file\n');
    }
  }
  return out.join('');
}

/** Where the lines of one side are on the other: what comments on base or head lines need. */
export class LineMap {
  /** Per base line (index = line number): the head line it is, or minus the nearest head line
   * when it was removed. */
  private readonly headOfBase: Int32Array;
  /** Per head line: the base line it came from unchanged, or 0 when added. */
  private readonly baseOfHead: Int32Array;

  /** `runs`: the diff as runs of lines of one kind. `baseLineCount`/`headLineCount`: lines as
   * src/ot/lines.ts counts them (with the empty line after a final terminator). */
  constructor(runs: readonly DiffRun[], baseLineCount: number, headLineCount: number) {
    this.headOfBase = new Int32Array(baseLineCount + 1);
    this.baseOfHead = new Int32Array(headLineCount + 1);
    let b = 0;
    let h = 0;
    for (const run of runs) {
      if (run.kind === 'context') {
        for (let n = 0; n < run.count; n++) {
          this.headOfBase[++b] = ++h;
          this.baseOfHead[h] = b;
        }
      } else if (run.kind === 'removed') {
        // Shown where the next head line is: what now stands in its place.
        const nearest = Math.max(1, Math.min(h + 1, headLineCount));
        for (let n = 0; n < run.count; n++) this.headOfBase[++b] = -nearest;
      } else {
        h += run.count;
      }
    }
    // The empty line after a final terminator exists on one side or both.
    const baseEnd = b < baseLineCount ? baseLineCount : 0;
    const headEnd = h < headLineCount ? headLineCount : 0;
    if (baseEnd && headEnd) {
      this.headOfBase[baseEnd] = headEnd;
      this.baseOfHead[headEnd] = baseEnd;
    } else if (baseEnd) {
      this.headOfBase[baseEnd] = -Math.max(1, headLineCount);
    }
  }

  /** Base line `line` in the head: the same line when unchanged; when removed, the head line
   * nearest to where it was. Undefined when the base has no such line. */
  headLineOfBase(line: number): { removed: boolean; headLine: number } | undefined {
    if (!Number.isInteger(line) || line < 1 || line >= this.headOfBase.length) return undefined;
    const v = this.headOfBase[line]!;
    return v > 0 ? { removed: false, headLine: v } : { removed: true, headLine: -v };
  }

  /** The base line head line `line` came from unchanged; undefined for an added or changed line
   * or when the head has no such line. */
  baseLineOfHead(line: number): number | undefined {
    if (!Number.isInteger(line) || line < 1 || line >= this.baseOfHead.length) return undefined;
    return this.baseOfHead[line] || undefined;
  }
}

/** Consecutive lines of one kind. */
export interface DiffRun {
  kind: DiffLine['kind'];
  count: number;
}

/** The lines of a text with their terminators ("a" and "a\n" differ, as in git); none for an
 * empty text. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
    lines.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

function diffLine(
  kind: DiffLine['kind'],
  baseLine: number | undefined,
  headLine: number | undefined,
  line: string,
): DiffLine {
  const eol: LineEnding = line.endsWith('\r\n') ? '\r\n' : line.endsWith('\n') ? '\n' : '';
  return { kind, baseLine, headLine, text: line.slice(0, line.length - eol.length), eol };
}

/** Hunks: each change with `context` unchanged lines around it; changes separated by at most
 * 2 x context unchanged lines share a hunk (their contexts would touch). */
function hunksOf(
  runs: readonly DiffRun[],
  baseLines: string[],
  headLines: string[],
  context: number,
): DiffHunk[] {
  const hunks: DiffHunk[] = [];
  let hunk: DiffHunk | undefined;
  let b = 0;
  let h = 0;
  const take = (kind: DiffLine['kind'], count: number): void => {
    for (let n = 0; n < count; n++) {
      if (kind === 'added') hunk!.lines.push(diffLine(kind, undefined, ++h, headLines[h - 1]!));
      else if (kind === 'removed') hunk!.lines.push(diffLine(kind, ++b, undefined, baseLines[b - 1]!));
      else hunk!.lines.push(diffLine(kind, ++b, ++h, baseLines[b - 1]!));
    }
  };
  const close = (): void => {
    if (!hunk) return;
    for (const l of hunk.lines) {
      if (l.baseLine !== undefined) hunk.baseCount++;
      if (l.headLine !== undefined) hunk.headCount++;
    }
    if (hunk.baseCount > 0) hunk.baseStart++;
    if (hunk.headCount > 0) hunk.headStart++;
    hunks.push(hunk);
    hunk = undefined;
  };
  runs.forEach((run, k) => {
    if (run.kind !== 'context') {
      if (!hunk) {
        // Opens after up to `context` lines of the unchanged run before it (b and h are past it).
        const lead = k > 0 ? Math.min(context, runs[k - 1]!.count) : 0;
        b -= lead;
        h -= lead;
        hunk = { baseStart: b, baseCount: 0, headStart: h, headCount: 0, lines: [] };
        take('context', lead);
      }
      take(run.kind, run.count);
      return;
    }
    if (hunk && k < runs.length - 1 && run.count <= 2 * context) {
      take('context', run.count);
      return;
    }
    if (hunk) {
      const trail = Math.min(context, run.count);
      take('context', trail);
      close();
      b += run.count - trail;
      h += run.count - trail;
    } else {
      b += run.count;
      h += run.count;
    }
  });
  close();
  return hunks;
}

function range(start: number, count: number): string {
  return count === 1 ? `${start}` : `${start},${count}`;
}

function tooLarge(
  bound: DiffTooLarge['bound'],
  lowerBound: number | undefined,
  maxEditLength: number,
  timeoutMs?: number,
): DiffTooLarge {
  const message =
    bound === 'timeout'
      ? `too large to diff: not done within ${timeoutMs} ms`
      : lowerBound !== undefined
        ? `too large to diff: at least ${lowerBound} lines changed (the limit is ${maxEditLength})`
        : `too large to diff: more than ${maxEditLength} lines changed`;
  return { status: 'too_large', bound, message };
}
