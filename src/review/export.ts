// A whole review rendered for people (Markdown that reads well pasted into a pull request) and for
// programs (JSON of a stable, documented shape: ReviewExportDocument below).
import {
  DEFAULT_DIFF_TIMEOUT_MS,
  diffTexts,
  renderUnifiedDiff,
  type DiffOptions,
  type DiffResult,
} from './diff.js';
import { blockText, code, fenced, inlineText, quote, table } from './markdown.js';
import type {
  FileChange,
  Participant,
  ReviewExport,
  ReviewFile,
  ReviewThread,
  Suggestion,
  SuggestionStatus,
  ThreadReply,
  TimelineEntry,
  Verdict,
  ViewedMark,
} from './model.js';
import { compare, fileChange, summarizeReview, type ReviewSummary } from './summary.js';

export interface ExportOptions {
  /** How files are diffed (context lines, bounds); diffTexts' defaults otherwise. */
  diff?: DiffOptions;
  /** Markdown only: a file's diff longer than this many lines is left out with a note (the JSON
   * has it). Default 1000, so that a review stays readable (and within a pull request
   * description's 65,536 characters as often as possible). */
  maxDiffLines?: number;
  /** Wall-clock bound in milliseconds on diffing all the files together (each file also keeps
   * its own bound): a server exporting a review must not block for long. Files diffed after the
   * budget is spent get a short bound and may show as too large. Default: none. */
  diffBudgetMs?: number;
}

export const REVIEW_EXPORT_FORMAT = 'livereview.review-export.v1';

/**
 * The JSON export. Keys always appear in this order; an absent optional value is null (never a
 * missing key); arrays are sorted (files by path; threads by file, line, side, creation, id;
 * replies by creation, id; verdicts by time, reviewer; participants by user id; the timeline by
 * sequence). Strings are compared by code unit. A change of shape gets a new `format`.
 */
export interface ReviewExportDocument {
  format: typeof REVIEW_EXPORT_FORMAT;
  sessionId: string;
  exportedAt: string;
  headSequence: number;
  summary: Omit<ReviewSummary, 'verdicts'> & {
    /** Each reviewer's current verdict. */
    verdicts: VerdictDocument[];
    files: { total: number; linesAdded: number; linesRemoved: number };
  };
  files: {
    path: string;
    previousPath: string | null;
    change: FileChange;
    version: number;
    viewedBy: ViewedMark[];
    baseText: string;
    headText: string;
    /** `unified`: the diff as `git diff` prints it, with file headers ('' when the texts are equal). */
    diff:
      | { status: 'diffed'; linesAdded: number; linesRemoved: number; unified: string }
      | { status: 'too_large'; message: string };
  }[];
  threads: {
    id: string;
    path: string;
    side: 'head' | 'base';
    line: number;
    originalLineText: string;
    state: 'open' | 'resolved';
    outdated: boolean;
    resolvedBy: string | null;
    resolvedAt: string | null;
    author: string;
    createdAt: string;
    updatedAt: string;
    text: string;
    replies: ThreadReply[];
    suggestion: {
      startLine: number;
      endLine: number;
      originalText: string;
      replacement: string;
      status: SuggestionStatus;
      appliedBy: string | null;
      appliedAt: string | null;
      conflict: string | null;
    } | null;
  }[];
  /** Every verdict given. */
  verdicts: VerdictDocument[];
  participants: { userId: string; displayName: string; roles: string[] | null }[];
  timeline: {
    sequence: number;
    at: string;
    userId: string;
    kind: TimelineEntry['kind'];
    path: string | null;
    summary: string;
  }[];
}

export interface VerdictDocument {
  reviewer: string;
  verdict: Verdict['verdict'];
  at: string;
  message: string | null;
}

export function reviewExportDocument(
  review: ReviewExport,
  options: ExportOptions = {},
): ReviewExportDocument {
  const r = sorted(review);
  const diffs = diffFiles(r.files, options);
  const summary = summarizeReview(r);
  const verdict = (v: Verdict): VerdictDocument => ({
    reviewer: v.reviewer,
    verdict: v.verdict,
    at: v.at,
    message: v.message ?? null,
  });
  return {
    format: REVIEW_EXPORT_FORMAT,
    sessionId: r.sessionId,
    exportedAt: r.exportedAt,
    headSequence: r.headSequence,
    summary: {
      outcome: summary.outcome,
      verdicts: summary.verdicts.map(verdict),
      threads: summary.threads,
      suggestions: summary.suggestions,
      viewed: summary.viewed,
      files: { total: r.files.length, ...lineTotals(diffs) },
    },
    files: r.files.map((f, i) => {
      const diff = diffs[i]!;
      const change = fileChange(f);
      return {
        path: f.path,
        previousPath: f.previousPath ?? null,
        change,
        version: f.version,
        viewedBy: f.viewedBy.map((m) => ({ userId: m.userId, at: m.at })),
        baseText: f.baseText,
        headText: f.headText,
        diff:
          diff.status === 'diffed'
            ? {
                status: 'diffed',
                linesAdded: diff.added,
                linesRemoved: diff.removed,
                unified: renderUnifiedDiff(diff, {
                  paths: {
                    base: change === 'added' ? null : (f.previousPath ?? f.path),
                    head: change === 'deleted' ? null : f.path,
                  },
                }),
              }
            : { status: 'too_large', message: diff.message },
      };
    }),
    threads: r.threads.map((t) => ({
      id: t.id,
      path: t.path,
      side: t.side,
      line: t.line,
      originalLineText: t.originalLineText,
      state: t.state,
      outdated: t.outdated,
      resolvedBy: t.resolvedBy ?? null,
      resolvedAt: t.resolvedAt ?? null,
      author: t.author,
      createdAt: t.createdAt,
      updatedAt: t.updatedAt,
      text: t.text,
      replies: t.replies.map((c) => ({
        id: c.id,
        author: c.author,
        createdAt: c.createdAt,
        updatedAt: c.updatedAt,
        text: c.text,
      })),
      suggestion: t.suggestion
        ? {
            startLine: t.suggestion.startLine,
            endLine: t.suggestion.endLine,
            originalText: t.suggestion.originalText,
            replacement: t.suggestion.replacement,
            status: t.suggestion.status,
            appliedBy: t.suggestion.appliedBy ?? null,
            appliedAt: t.suggestion.appliedAt ?? null,
            conflict: t.suggestion.conflict ?? null,
          }
        : null,
    })),
    verdicts: r.verdicts.map(verdict),
    participants: r.participants.map((p) => ({
      userId: p.userId,
      displayName: p.displayName,
      roles: p.roles ? [...p.roles] : null,
    })),
    timeline: r.timeline.map((e) => ({
      sequence: e.sequence,
      at: e.at,
      userId: e.userId,
      kind: e.kind,
      path: e.path ?? null,
      summary: e.summary,
    })),
  };
}

/** The JSON export as text: two-space indentation, a final newline. */
export function renderReviewJson(review: ReviewExport, options: ExportOptions = {}): string {
  return JSON.stringify(reviewExportDocument(review, options), null, 2) + '\n';
}

/** The review as Markdown for a pull request: a summary, then per file its diff and threads, the
 * participants and the timeline. */
export function renderReviewMarkdown(review: ReviewExport, options: ExportOptions = {}): string {
  const r = sorted(review);
  const names = new Map(r.participants.map((p) => [p.userId, p.displayName]));
  const who: Who = (userId, style = 'plain') => {
    const inTable = style === 'cell';
    const name = names.get(userId);
    if (!name || name === userId) return style === 'strong' ? `**${code(userId)}**` : code(userId, inTable);
    const shown = style === 'strong' ? `**${inlineText(name)}**` : inlineText(name);
    return `${shown} (${code(userId, inTable)})`;
  };
  const page: Page = {
    r,
    who,
    diffs: new Map(diffFiles(r.files, options).map((d, i) => [r.files[i]!.path, d])),
    maxDiffLines: options.maxDiffLines ?? 1000,
  };
  return (
    [
      `# Review of session ${code(r.sessionId)}`,
      `Exported ${time(r.exportedAt)}, at sequence ${r.headSequence}.`,
      ...summarySection(page),
      ...filesSection(page),
      ...participantsSection(page),
      ...timelineSection(page),
    ].join('\n\n') + '\n'
  );
}

/** What every section of the Markdown page reads. */
interface Page {
  r: ReviewExport;
  who: Who;
  diffs: Map<string, DiffResult>;
  maxDiffLines: number;
}

function summarySection({ r, who, diffs }: Page): string[] {
  const summary = summarizeReview(r);
  const out = ['## Summary'];
  const by = (kind: Verdict['verdict']) =>
    summary.verdicts
      .filter((v) => v.verdict === kind)
      .map((v) => who(v.reviewer))
      .join(', ');
  out.push(
    {
      changes_requested: `**Changes requested** by ${by('request_changes')}.`,
      approved: `**Approved** by ${by('approve')}.`,
      commented: `**No approval yet**: ${by('comment')} commented without a verdict.`,
      none: '**No verdicts yet.**',
    }[summary.outcome],
  );
  if (summary.verdicts.length > 0) {
    out.push(
      table(
        ['Reviewer', 'Verdict', 'Since', 'Message'],
        summary.verdicts.map((v) => [
          who(v.reviewer, 'cell'),
          VERDICT_LABEL[v.verdict],
          time(v.at),
          v.message ? inlineText(v.message) : '',
        ]),
      ),
    );
  }
  const { threads, suggestions } = summary;
  const totals = lineTotals([...diffs.values()]);
  out.push(
    [
      `- **Threads:** ${threads.total} (${threads.unresolved} unresolved, ${threads.resolved} resolved` +
        (threads.outdated ? `; ${threads.outdated} outdated)` : ')'),
      `- **Suggestions:** ${suggestions.total} (${suggestions.applied} applied, ${suggestions.pending} pending, ` +
        `${suggestions.conflicting} conflicting)`,
      `- **Files:** ${r.files.length} changed, +${totals.linesAdded} −${totals.linesRemoved}`,
      `- **Viewed:** ` +
        (summary.viewed.length === 0
          ? 'nobody has marked a file viewed'
          : summary.viewed.map((v) => `${who(v.userId)} ${v.files} of ${v.of} files`).join('; ')),
    ].join('\n'),
  );
  if (r.files.length > 0) {
    out.push(
      table(
        ['File', 'Change', 'Lines', 'Threads', 'Viewed by'],
        r.files.map((f) => {
          const onFile = r.threads.filter((t) => t.path === f.path);
          const open = onFile.filter((t) => t.state === 'open').length;
          return [
            code(f.path, true),
            fileChange(f),
            lineCounts(diffs.get(f.path)!),
            onFile.length === 0 ? '' : `${onFile.length}` + (open ? ` (${open} unresolved)` : ''),
            f.viewedBy.map((m) => who(m.userId, 'cell')).join(', '),
          ];
        }),
      ),
    );
  }
  return out;
}

function filesSection({ r, who, diffs, maxDiffLines }: Page): string[] {
  const out = r.files.length > 0 ? ['## Files'] : [];
  for (const f of r.files) {
    const diff = diffs.get(f.path)!;
    out.push(`### ${code(f.path)}`);
    out.push(
      [
        f.previousPath !== undefined ? `Renamed from ${code(f.previousPath)}` : capitalize(fileChange(f)),
        lineCounts(diff),
        `version ${f.version}`,
        f.viewedBy.length ? `viewed by ${f.viewedBy.map((m) => who(m.userId)).join(', ')}` : 'not viewed yet',
      ].join(' · '),
    );
    if (diff.status === 'too_large') {
      out.push(`*${inlineText(capitalize(diff.message))}.*`);
    } else if (diff.hunks.length === 0) {
      out.push('*No change to its text.*');
    } else {
      const lines = diff.hunks.reduce((n, h) => n + h.lines.length + 1, 0);
      out.push(
        lines > maxDiffLines
          ? `*The diff has ${lines} lines, more than ${maxDiffLines}: left out here (the JSON export has it).*`
          : fenced(renderUnifiedDiff(diff, { lineEndings: 'lf' }), 'diff'),
      );
    }
    for (const t of r.threads.filter((x) => x.path === f.path)) out.push(...thread(t, diff, who));
  }
  const paths = new Set(r.files.map((f) => f.path));
  const elsewhere = r.threads.filter((t) => !paths.has(t.path));
  if (elsewhere.length > 0) out.push('## Threads on other files');
  let path: string | undefined;
  for (const t of elsewhere) {
    if (t.path !== path) out.push(`### ${code((path = t.path))}`);
    out.push(...thread(t, undefined, who));
  }
  return out;
}

function participantsSection({ r }: Page): string[] {
  if (r.participants.length === 0) return [];
  return [
    '## Participants',
    table(
      ['Name', 'User', 'Roles'],
      r.participants.map((p) => [
        inlineText(p.displayName),
        code(p.userId, true),
        p.roles ? p.roles.map((x) => inlineText(x)).join(', ') : '',
      ]),
    ),
  ];
}

function timelineSection({ r, who }: Page): string[] {
  if (r.timeline.length === 0) return [];
  return [
    '## Timeline',
    table(
      ['#', 'Time', 'Who', 'Event', 'File'],
      r.timeline.map((e) => [
        `${e.sequence}`,
        time(e.at),
        who(e.userId, 'cell'),
        inlineText(e.summary),
        e.path !== undefined ? code(e.path, true) : '',
      ]),
    ),
  ];
}

/** How a person is shown: display name and user id; in a table cell; or with the name in bold. */
type Who = (userId: string, style?: 'plain' | 'cell' | 'strong') => string;

const VERDICT_LABEL: Record<Verdict['verdict'], string> = {
  approve: 'Approved',
  request_changes: 'Changes requested',
  comment: 'Commented',
};

function thread(t: ReviewThread, diff: DiffResult | undefined, who: Who): string[] {
  const out: string[] = [];
  const where = t.side === 'base' ? `base line ${t.line}` : `line ${t.line}`;
  const state = [t.state, ...(t.outdated ? ['outdated'] : [])].join(' · ');
  out.push(`#### ${code(t.id)} · ${where} · ${state}`);
  const lineText = t.originalLineText === '' ? 'an empty line' : code(t.originalLineText);
  if (t.outdated) {
    out.push(`On ${where}, since deleted; it read ${lineText}.`);
  } else if (t.side === 'base') {
    const inHead = diff?.status === 'diffed' ? diff.lineMap.headLineOfBase(t.line) : undefined;
    const fate = !inHead
      ? ''
      : inHead.removed
        ? ', removed in the head'
        : `, line ${inHead.headLine} in the head`;
    out.push(`On ${where}${fate}: ${lineText}.`);
  } else {
    out.push(`On ${where}: ${lineText}.`);
  }
  out.push(...comment(t, 'wrote', who));
  if (t.suggestion) out.push(...suggestion(t.suggestion, who));
  for (const reply of t.replies) out.push(...comment(reply, 'replied', who));
  if (t.state === 'resolved') {
    out.push(
      t.resolvedBy
        ? `Resolved by ${who(t.resolvedBy)}${t.resolvedAt ? ` at ${time(t.resolvedAt)}` : ''}.`
        : 'Resolved.',
    );
  }
  return out;
}

function comment(
  c: Pick<ThreadReply, 'author' | 'createdAt' | 'updatedAt' | 'text'>,
  verb: string,
  who: Who,
): string[] {
  const edited = c.updatedAt !== c.createdAt ? ` · edited ${time(c.updatedAt)}` : '';
  const body = blockText(c.text);
  return [
    `${who(c.author, 'strong')} ${verb} · ${time(c.createdAt)}${edited}`,
    quote(body === '' ? '*(empty)*' : body),
  ];
}

function suggestion(s: Suggestion, who: Who): string[] {
  const lines = s.startLine === s.endLine ? `line ${s.startLine}` : `lines ${s.startLine}–${s.endLine}`;
  const status = {
    pending: 'not applied yet',
    applied: `**applied**${s.appliedBy ? ` by ${who(s.appliedBy)}` : ''}${s.appliedAt ? ` at ${time(s.appliedAt)}` : ''}`,
    conflicting: `**conflicting**${s.conflict ? ` (${inlineText(s.conflict)})` : ''}`,
  }[s.status];
  const deletes = s.replacement === '' ? ', deleting them' : '';
  // A suggestion block holds the new lines without the last line's terminator, as GitHub's does.
  const body = s.replacement.replace(/\r?\n$/, '');
  return [
    `Suggested change for ${lines}${deletes}, ${status}:`,
    fenced(s.replacement === '' ? '' : body, 'suggestion'),
  ];
}

/** Each file's diff, within the options' total budget. */
function diffFiles(files: readonly ReviewFile[], options: ExportOptions): DiffResult[] {
  const budget = options.diffBudgetMs;
  const started = Date.now();
  return files.map((f) => {
    if (budget === undefined) return diffTexts(f.baseText, f.headText, options.diff);
    const left = budget - (Date.now() - started);
    const own = options.diff?.timeoutMs ?? DEFAULT_DIFF_TIMEOUT_MS;
    return diffTexts(f.baseText, f.headText, {
      ...options.diff,
      timeoutMs: Math.max(1, Math.min(own, left)),
    });
  });
}

/** "2026-12-02T10:05:00.000Z" -> "2026-12-02 10:05:00 UTC"; anything else as text. */
function time(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : inlineText(iso);
}

function lineCounts(diff: DiffResult): string {
  return diff.status === 'diffed' ? `+${diff.added} −${diff.removed}` : 'too large to diff';
}

function lineTotals(diffs: readonly DiffResult[]): { linesAdded: number; linesRemoved: number } {
  let linesAdded = 0;
  let linesRemoved = 0;
  for (const d of diffs) {
    if (d.status !== 'diffed') continue;
    linesAdded += d.added;
    linesRemoved += d.removed;
  }
  return { linesAdded, linesRemoved };
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A copy with every list in its documented order. */
function sorted(review: ReviewExport): ReviewExport {
  const fileOrder = new Map<string, number>(
    [...review.files].sort((a, b) => compare(a.path, b.path)).map((f, i) => [f.path, i]),
  );
  const byFile = (path: string) => fileOrder.get(path) ?? Number.MAX_SAFE_INTEGER;
  return {
    ...review,
    files: [...review.files]
      .sort((a, b) => compare(a.path, b.path))
      .map((f): ReviewFile => ({
        ...f,
        viewedBy: [...f.viewedBy].sort((a, b) => compare(a.userId, b.userId)),
      })),
    threads: [...review.threads]
      .sort(
        (a, b) =>
          byFile(a.path) - byFile(b.path) ||
          compare(a.path, b.path) ||
          a.line - b.line ||
          compare(a.side, b.side) ||
          compare(a.createdAt, b.createdAt) ||
          compare(a.id, b.id),
      )
      .map((t) => ({
        ...t,
        replies: [...t.replies].sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.id, b.id)),
      })),
    verdicts: [...review.verdicts].sort((a, b) => compare(a.at, b.at) || compare(a.reviewer, b.reviewer)),
    participants: [...review.participants].sort((a: Participant, b: Participant) =>
      compare(a.userId, b.userId),
    ),
    timeline: [...review.timeline].sort((a, b) => a.sequence - b.sequence),
  };
}
