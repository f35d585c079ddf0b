// Where a review stands: each reviewer's verdict, unresolved threads, suggestions, and who has
// viewed how many files. Computed from plain values so that the export and a live summary agree.
import type { FileChange, ReviewFile, ReviewThread, Suggestion, Verdict } from './model.js';

export type ReviewOutcome = 'changes_requested' | 'approved' | 'commented' | 'none';

export interface ReviewSummary {
  /** As GitHub decides: changes requested by anyone, else approved by anyone, else commented. */
  outcome: ReviewOutcome;
  /** Each reviewer's current verdict (their latest), in reviewer order. */
  verdicts: Verdict[];
  threads: { total: number; unresolved: number; resolved: number; outdated: number };
  suggestions: { total: number; pending: number; applied: number; conflicting: number };
  /** For everyone who viewed a file or gave a verdict, in user order: files viewed of all files. */
  viewed: { userId: string; files: number; of: number }[];
}

/** What a summary is computed from: the export's values, or as much of them as a live client has. */
export interface SummaryInput {
  files: readonly Pick<ReviewFile, 'viewedBy'>[];
  threads: readonly (Pick<ReviewThread, 'state' | 'outdated'> & {
    suggestion?: Pick<Suggestion, 'status'>;
  })[];
  verdicts: readonly Verdict[];
}

export function summarizeReview(review: SummaryInput): ReviewSummary {
  const verdicts = currentVerdicts(review.verdicts);
  const kinds = new Set(verdicts.map((v) => v.verdict));
  const outcome: ReviewOutcome = kinds.has('request_changes')
    ? 'changes_requested'
    : kinds.has('approve')
      ? 'approved'
      : kinds.size > 0
        ? 'commented'
        : 'none';
  const threads = { total: review.threads.length, unresolved: 0, resolved: 0, outdated: 0 };
  const suggestions = { total: 0, pending: 0, applied: 0, conflicting: 0 };
  for (const t of review.threads) {
    threads[t.state === 'open' ? 'unresolved' : 'resolved']++;
    if (t.outdated) threads.outdated++;
    if (t.suggestion) {
      suggestions.total++;
      suggestions[t.suggestion.status]++;
    }
  }
  const viewedFiles = new Map<string, number>(verdicts.map((v) => [v.reviewer, 0]));
  for (const f of review.files) {
    for (const userId of new Set(f.viewedBy.map((m) => m.userId))) {
      viewedFiles.set(userId, (viewedFiles.get(userId) ?? 0) + 1);
    }
  }
  const viewed = [...viewedFiles]
    .sort(([a], [b]) => compare(a, b))
    .map(([userId, files]) => ({ userId, files, of: review.files.length }));
  return { outcome, verdicts, threads, suggestions, viewed };
}

/** Each reviewer's latest verdict (a later one replaces an earlier one), in reviewer order. */
export function currentVerdicts(verdicts: readonly Verdict[]): Verdict[] {
  const latest = new Map<string, Verdict>();
  for (const v of [...verdicts].sort((a, b) => compare(a.at, b.at))) latest.set(v.reviewer, v);
  return [...latest.values()].sort((a, b) => compare(a.reviewer, b.reviewer));
}

/** How a file changed: as the review says, else from its texts and paths. */
export function fileChange(
  file: Pick<ReviewFile, 'change' | 'previousPath' | 'baseText' | 'headText'>,
): FileChange {
  if (file.change) return file.change;
  if (file.previousPath !== undefined) return 'renamed';
  if (file.baseText === '' && file.headText !== '') return 'added';
  if (file.headText === '' && file.baseText !== '') return 'deleted';
  return 'modified';
}

/** Code unit order: the same on every machine, unlike localeCompare. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
