// The edge between the wire (protobuf-es messages) and the SDK's plain values. int64 fields arrive
// as bigint: they become numbers here (sequence numbers and times stay far below 2^53) and never
// reach the public types.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  CommentAction,
  CommentSide,
  CommentState,
  FileChange as WireFileChange,
  PresenceUpdate_Status,
  ReviewOutcome,
  SessionMessageSchema,
  SuggestionStatus,
  TextOperationSchema,
  VerdictKind as WireVerdictKind,
  type Comment,
  type FileBase,
  type FileState,
  type FileViewed,
  type GetSessionResponse,
  type ReviewSummary as WireSummary,
  type SessionMessage,
  type Suggestion,
  type TextOperation,
  type Verdict,
} from '../../gen/es/codereview/v1/codereview_pb.js';
import type { TextOp } from '../../ot/text.js';
import type {
  CommentInfo,
  FileBaseInfo,
  FileChange,
  FileInfo,
  PresenceInfo,
  ReviewSummary,
  SessionState,
  SuggestionInfo,
  VerdictInfo,
  VerdictKind,
  ViewedInfo,
} from './types.js';

/** A bigint int64 of the wire as a number. */
export const int = (n: bigint): number => Number(n);

export function toWireOps(op: TextOp): TextOperation[] {
  return op.map((c) =>
    create(TextOperationSchema, {
      kind:
        typeof c === 'number'
          ? { case: 'retain', value: c }
          : typeof c === 'string'
            ? { case: 'insert', value: c }
            : { case: 'delete', value: typeof c.d === 'number' ? c.d : [...c.d].length },
    }),
  );
}

export function fromWireOps(ops: TextOperation[]): TextOp {
  const out: TextOp = [];
  for (const { kind } of ops) {
    if (kind.case === 'retain' || kind.case === 'insert') out.push(kind.value);
    else if (kind.case === 'delete') out.push({ d: kind.value });
  }
  return out;
}

/** A session message to send. */
export function message(init: MessageInitShape<typeof SessionMessageSchema>): SessionMessage {
  return create(SessionMessageSchema, init);
}

const PRESENCE: Record<number, PresenceInfo['status']> = {
  [PresenceUpdate_Status.JOINED]: 'joined',
  [PresenceUpdate_Status.ACTIVE]: 'active',
  [PresenceUpdate_Status.IDLE]: 'idle',
  [PresenceUpdate_Status.LEFT]: 'left',
};

export function presenceOf(status: PresenceUpdate_Status): PresenceInfo['status'] {
  return PRESENCE[status] ?? 'active';
}

/** "create", "reply", … ("unspecified" for a seed client's comment). */
export function actionName(action: CommentAction): string {
  return (CommentAction[action] ?? '').replace('COMMENT_ACTION_', '').toLowerCase();
}

export function commentOf(c: Comment): CommentInfo {
  const suggestion = c.suggestion && suggestionOf(c.suggestion);
  return {
    id: c.commentId,
    path: c.filePath,
    line: c.lineNumber,
    text: c.text,
    authorId: c.authorId,
    parentId: c.parentId,
    state: c.state === CommentState.RESOLVED ? 'resolved' : 'open',
    outdated: c.outdated,
    originalLineText: c.originalLineText,
    side: c.side === CommentSide.BASE ? 'base' : 'head',
    ...(suggestion ? { suggestion } : {}),
  };
}

const STATUS: Record<number, SuggestionInfo['status']> = {
  [SuggestionStatus.APPLIED]: 'applied',
  [SuggestionStatus.CONFLICTING]: 'conflicting',
};

/** A suggestion as the server described it (status as of the comment's version). */
export function suggestionOf(s: Suggestion): SuggestionInfo {
  return {
    startLine: s.startLine,
    endLine: s.endLine,
    replacement: s.replacement,
    originalText: s.originalText,
    status: STATUS[s.status] ?? 'pending',
    ...(s.conflict ? { conflict: s.conflict } : {}),
    ...(s.appliedBy ? { appliedBy: s.appliedBy, appliedAt: int(s.appliedAt) } : {}),
  };
}

const CHANGE: Record<number, FileChange> = {
  [WireFileChange.ADDED]: 'added',
  [WireFileChange.MODIFIED]: 'modified',
  [WireFileChange.DELETED]: 'deleted',
  [WireFileChange.RENAMED]: 'renamed',
};

export function baseOf(b: FileBase): FileBaseInfo {
  const change = CHANGE[b.change];
  return {
    text: b.text,
    ...(b.previousPath ? { previousPath: b.previousPath } : {}),
    ...(change ? { change } : {}),
  };
}

export function baseToWire(b: FileBaseInfo): { text: string; previousPath: string; change: WireFileChange } {
  const change = Object.entries(CHANGE).find(([, name]) => name === b.change)?.[0];
  return { text: b.text, previousPath: b.previousPath ?? '', change: change ? Number(change) : 0 };
}

export function fileOf(f: FileState): FileInfo {
  return { path: f.path, version: f.version, text: f.text, ...(f.base ? { base: baseOf(f.base) } : {}) };
}

const VERDICT: Record<number, VerdictKind> = {
  [WireVerdictKind.APPROVE]: 'approve',
  [WireVerdictKind.REQUEST_CHANGES]: 'request_changes',
  [WireVerdictKind.COMMENT]: 'comment',
};

export const VERDICT_TO_WIRE: Record<VerdictKind, WireVerdictKind> = {
  approve: WireVerdictKind.APPROVE,
  request_changes: WireVerdictKind.REQUEST_CHANGES,
  comment: WireVerdictKind.COMMENT,
};

/** A verdict (its reviewer, time and sequence from the message carrying it when it has none). */
export function verdictOf(v: Verdict, envelope?: SessionMessage): VerdictInfo {
  return {
    reviewer: v.reviewerId || envelope?.userId || '',
    verdict: VERDICT[v.kind] ?? 'comment',
    message: v.message,
    at: int(v.at) || int(envelope?.timestamp ?? 0n),
    sequence: int(v.sequence) || int(envelope?.sequence ?? 0n),
  };
}

export function viewedOf(f: FileViewed, envelope?: SessionMessage): ViewedInfo {
  return {
    path: f.filePath,
    userId: f.userId || envelope?.userId || '',
    version: f.version,
    viewed: f.viewed,
    at: int(f.at) || int(envelope?.timestamp ?? 0n),
    sequence: int(f.sequence) || int(envelope?.sequence ?? 0n),
  };
}

const OUTCOME: Record<number, ReviewSummary['outcome']> = {
  [ReviewOutcome.COMMENTED]: 'commented',
  [ReviewOutcome.APPROVED]: 'approved',
  [ReviewOutcome.CHANGES_REQUESTED]: 'changes_requested',
};

export function summaryOf(s: WireSummary | undefined): ReviewSummary {
  return {
    outcome: (s && OUTCOME[s.outcome]) ?? 'none',
    verdicts: (s?.verdicts ?? []).map((v) => {
      const info = verdictOf(v);
      return {
        reviewer: info.reviewer,
        verdict: info.verdict,
        at: new Date(info.at).toISOString(),
        ...(info.message ? { message: info.message } : {}),
      };
    }),
    threads: {
      total: s?.threads ?? 0,
      unresolved: s?.unresolvedThreads ?? 0,
      resolved: s?.resolvedThreads ?? 0,
      outdated: s?.outdatedThreads ?? 0,
    },
    suggestions: {
      total: s?.suggestions ?? 0,
      pending: s?.pendingSuggestions ?? 0,
      applied: s?.appliedSuggestions ?? 0,
      conflicting: s?.conflictingSuggestions ?? 0,
    },
    viewed: (s?.viewed ?? []).map((v) => ({ userId: v.userId, files: v.filesViewed, of: v.filesTotal })),
  };
}

export function sessionStateOf(s: GetSessionResponse): SessionState {
  return {
    sessionId: s.sessionId,
    headSequence: int(s.headSequence),
    files: s.files.map(fileOf),
    comments: s.comments.map(commentOf),
    participants: s.roster.map((r) => ({
      participantId: r.participantId,
      userId: r.userId,
      status: presenceOf(r.status),
    })),
    cursors: s.cursors.map((c) => ({
      participantId: c.participantId,
      userId: c.userId,
      path: c.position?.filePath ?? '',
      line: c.position?.line ?? 0,
      column: c.position?.column ?? 0,
    })),
    verdicts: s.verdicts.map((v) => verdictOf(v)),
    viewed: s.viewed.map((f) => viewedOf(f)),
    summary: summaryOf(s.summary),
  };
}
