// The wire edge of the review features (beside codec.ts): bases, comment sides and suggestions,
// applied suggestions, verdicts, viewed marks, the summary. Parsing checks shapes and returns
// engine values, or throws a LiveReviewError naming the field; the engine checks meaning.
import { invalidMessage } from '../core/errors.js';
import type {
  Command,
  CommentRecord,
  FileBase,
  FileChange,
  LoggedEvent,
  SuggestionInput,
  SuggestionStatusView,
  VerdictKind,
  VerdictView,
  ViewedView,
} from '../core/model.js';
import type { ReviewOfSession } from '../core/engine.js';
import {
  CommentSide,
  FileChange as WireFileChange,
  ReviewOutcome,
  SuggestionStatus,
  VerdictKind as WireVerdictKind,
  type ApplySuggestion,
  type Comment,
  type FileBase as WireFileBase,
  type FileViewed,
  type GetSessionResponse,
  type SessionMessage,
  type Suggestion,
  type Verdict,
} from '../gen/codereview/v1/codereview.js';
import type { ReviewOutcome as Outcome } from '../review/summary.js';

// Maps, not object literals: keys come off the wire, and a lookup must never reach a prototype.
const CHANGE_FROM_WIRE = new Map<number, FileChange | undefined>([
  [WireFileChange.FILE_CHANGE_UNSPECIFIED, undefined],
  [WireFileChange.FILE_CHANGE_ADDED, 'added'],
  [WireFileChange.FILE_CHANGE_MODIFIED, 'modified'],
  [WireFileChange.FILE_CHANGE_DELETED, 'deleted'],
  [WireFileChange.FILE_CHANGE_RENAMED, 'renamed'],
]);

const CHANGE_TO_WIRE: Record<FileChange, WireFileChange> = {
  added: WireFileChange.FILE_CHANGE_ADDED,
  modified: WireFileChange.FILE_CHANGE_MODIFIED,
  deleted: WireFileChange.FILE_CHANGE_DELETED,
  renamed: WireFileChange.FILE_CHANGE_RENAMED,
};

const VERDICT_FROM_WIRE = new Map<number, VerdictKind>([
  [WireVerdictKind.VERDICT_KIND_APPROVE, 'approve'],
  [WireVerdictKind.VERDICT_KIND_REQUEST_CHANGES, 'request_changes'],
  [WireVerdictKind.VERDICT_KIND_COMMENT, 'comment'],
]);

const VERDICT_TO_WIRE: Record<VerdictKind, WireVerdictKind> = {
  approve: WireVerdictKind.VERDICT_KIND_APPROVE,
  request_changes: WireVerdictKind.VERDICT_KIND_REQUEST_CHANGES,
  comment: WireVerdictKind.VERDICT_KIND_COMMENT,
};

const STATUS_TO_WIRE: Record<SuggestionStatusView['status'], SuggestionStatus> = {
  pending: SuggestionStatus.SUGGESTION_STATUS_PENDING,
  applied: SuggestionStatus.SUGGESTION_STATUS_APPLIED,
  conflicting: SuggestionStatus.SUGGESTION_STATUS_CONFLICTING,
};

const OUTCOME_TO_WIRE: Record<Outcome, ReviewOutcome> = {
  none: ReviewOutcome.REVIEW_OUTCOME_NONE,
  commented: ReviewOutcome.REVIEW_OUTCOME_COMMENTED,
  approved: ReviewOutcome.REVIEW_OUTCOME_APPROVED,
  changes_requested: ReviewOutcome.REVIEW_OUTCOME_CHANGES_REQUESTED,
};

// ---- wire -> engine ------------------------------------------------------------------------------

/** A base of OpenReview's FileContent (field names relative to `field`). */
export function fileBaseFromWire(field: string, base: WireFileBase): FileBase {
  if (!CHANGE_FROM_WIRE.has(base.change))
    throw invalidMessage(`${field}.change`, `unknown change ${base.change}`);
  const change = CHANGE_FROM_WIRE.get(base.change);
  return {
    text: base.text,
    ...(base.previousPath ? { previousPath: base.previousPath } : {}),
    ...(change ? { change } : {}),
  };
}

/** The review fields of a comment message: its side and suggestion. */
export function commentReviewFromWire(c: Comment): { side?: 'head' | 'base'; suggestion?: SuggestionInput } {
  const side = c.side ?? CommentSide.COMMENT_SIDE_UNSPECIFIED;
  if (
    side !== CommentSide.COMMENT_SIDE_UNSPECIFIED &&
    side !== CommentSide.COMMENT_SIDE_HEAD &&
    side !== CommentSide.COMMENT_SIDE_BASE
  ) {
    throw invalidMessage('comment.side', `unknown side ${side}`);
  }
  const s = c.suggestion;
  return {
    ...(side === CommentSide.COMMENT_SIDE_BASE ? { side: 'base' as const } : {}),
    ...(s
      ? {
          suggestion: {
            startLine: s.startLine,
            endLine: s.endLine,
            replacement: s.replacement,
            originalText: s.originalText,
          },
        }
      : {}),
  };
}

/** The commands of the new payloads, or undefined for a payload that is not one of them. */
export function reviewCommandFromWire(payload: SessionMessage['payload']): Command | undefined {
  switch (payload?.$case) {
    case 'applySuggestion':
      return { kind: 'apply_suggestion', commentId: (payload.value as ApplySuggestion).commentId };
    case 'verdict': {
      const v = payload.value;
      const verdict = VERDICT_FROM_WIRE.get(v.kind);
      if (!verdict)
        throw invalidMessage('verdict.kind', `must be APPROVE, REQUEST_CHANGES or COMMENT, not ${v.kind}`);
      return { kind: 'verdict', verdict, message: v.message };
    }
    case 'fileViewed': {
      const f = payload.value;
      if (f.version < 0) throw invalidMessage('file_viewed.version', 'must not be negative');
      return {
        kind: 'viewed',
        path: f.filePath,
        version: f.version > 0 ? f.version : undefined,
        viewed: f.viewed,
      };
    }
    default:
      return undefined;
  }
}

// ---- engine -> wire ------------------------------------------------------------------------------

export function fileBaseToWire(base: FileBase | undefined): WireFileBase {
  return {
    text: base?.text ?? '',
    previousPath: base?.previousPath ?? '',
    change: base?.change ? CHANGE_TO_WIRE[base.change] : WireFileChange.FILE_CHANGE_UNSPECIFIED,
  };
}

/** A comment's side and suggestion on the wire (`status`: as of the comment's version). */
export function commentReviewToWire(
  record: CommentRecord,
  status: SuggestionStatusView | undefined,
): Pick<Comment, 'side' | 'suggestion'> {
  const side = record.side === 'base' ? CommentSide.COMMENT_SIDE_BASE : CommentSide.COMMENT_SIDE_HEAD;
  const s = record.suggestion;
  if (!s) return { side };
  const suggestion: Suggestion = {
    startLine: s.startLine,
    endLine: s.endLine,
    replacement: s.replacement,
    originalText: s.originalText,
    status: status ? STATUS_TO_WIRE[status.status] : SuggestionStatus.SUGGESTION_STATUS_UNSPECIFIED,
    conflict: status?.conflict ?? '',
    appliedBy: record.appliedBy ?? '',
    appliedAt: record.appliedAt ?? 0,
    appliedSequence: record.appliedSeq ?? 0,
    rangeStart: record.suggestionStart ?? 0,
    rangeEnd: record.suggestionEnd ?? 0,
  };
  return { side, suggestion };
}

export function verdictToWire(v: VerdictView): Verdict {
  return {
    kind: VERDICT_TO_WIRE[v.verdict],
    message: v.message,
    reviewerId: v.reviewer,
    at: v.at,
    sequence: v.seq,
  };
}

export function viewedToWire(m: ViewedView, viewed = true): FileViewed {
  return { filePath: m.path, version: m.version, viewed, userId: m.userId, at: m.at, sequence: m.seq };
}

/** The payload of a logged review event (verdict, viewed); suggestion_applied is built by codec.ts
 * (it holds an edit and a comment). */
export function reviewEventPayload(
  event: LoggedEvent,
): { $case: 'verdict'; value: Verdict } | { $case: 'fileViewed'; value: FileViewed } | undefined {
  const c = event.change;
  if (c.kind === 'verdict') {
    return {
      $case: 'verdict',
      value: verdictToWire({
        reviewer: c.reviewer,
        verdict: c.verdict,
        message: c.message,
        at: c.at,
        seq: event.seq,
      }),
    };
  }
  if (c.kind === 'viewed') {
    return {
      $case: 'fileViewed',
      value: viewedToWire(
        { path: c.path, userId: c.userId, version: c.version, at: c.at, seq: event.seq },
        c.viewed,
      ),
    };
  }
  return undefined;
}

/** GetSession's review fields. */
export function reviewOfSessionToWire(
  r: ReviewOfSession,
): Pick<GetSessionResponse, 'summary' | 'verdicts' | 'viewed'> {
  const s = r.summary;
  // Each reviewer's latest verdict, by sequence.
  const latest = new Map<string, VerdictView>();
  for (const v of r.verdicts) latest.set(v.reviewer, v);
  return {
    summary: {
      outcome: OUTCOME_TO_WIRE[s.outcome],
      verdicts: [...latest.values()]
        .sort((a, b) => (a.reviewer < b.reviewer ? -1 : a.reviewer > b.reviewer ? 1 : 0))
        .map(verdictToWire),
      threads: s.threads.total,
      unresolvedThreads: s.threads.unresolved,
      resolvedThreads: s.threads.resolved,
      outdatedThreads: s.threads.outdated,
      suggestions: s.suggestions.total,
      pendingSuggestions: s.suggestions.pending,
      appliedSuggestions: s.suggestions.applied,
      conflictingSuggestions: s.suggestions.conflicting,
      files: r.files,
      viewed: s.viewed.map((v) => ({ userId: v.userId, filesViewed: v.files, filesTotal: v.of })),
    },
    verdicts: r.verdicts.map(verdictToWire),
    viewed: r.viewed.map((m) => viewedToWire(m)),
  };
}
