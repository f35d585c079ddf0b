// A whole review as it is exported: everything a reviewer used to GitHub pull requests or Gerrit
// changes expects to find afterwards. The engine builds it from a session's state and log; the
// renderers in export.ts turn it into Markdown and JSON.
//
// Times are ISO 8601 in UTC ("2026-12-02T10:05:00.000Z"). Lines are 1-based. User ids are the
// session's; display names come from `participants`.

/** A participant's role in the session (the engine's roles, named here so that this module, shared
 * with the client SDK, depends on nothing of the server). */
export type ReviewRole = 'author' | 'reviewer' | 'viewer';

export interface ReviewExport {
  sessionId: string;
  /** When the export was made. */
  exportedAt: string;
  /** The session's last sequence number the export includes: every event up to it, none after. */
  headSequence: number;
  files: ReviewFile[];
  threads: ReviewThread[];
  /** Every verdict given, earlier ones included; a reviewer's latest is their current one. */
  verdicts: Verdict[];
  participants: Participant[];
  timeline: TimelineEntry[];
}

export type FileChange = 'added' | 'modified' | 'deleted' | 'renamed';

export interface ReviewFile {
  path: string;
  /** A renamed file's base path. */
  previousPath?: string;
  /** How the file changed, when the review knows (a review from git does). Otherwise derived: a
   * previous path means renamed, an empty base added, an empty head deleted, else modified. */
  change?: FileChange;
  /** What the change is against. */
  baseText: string;
  /** The live text at the export. */
  headText: string;
  /** The head's version: edits applied to it in the session. */
  version: number;
  /** Who has viewed the file as it is now (a mark is dropped when the file changes after it). */
  viewedBy: ViewedMark[];
}

export interface ViewedMark {
  userId: string;
  at: string;
}

export type ThreadState = 'open' | 'resolved';

/** 'head': a line of the live text. 'base': a line of the base text, usually code the change
 * removed. */
export type ThreadSide = 'head' | 'base';

/** A comment thread: its first comment and the replies. */
export interface ReviewThread {
  id: string;
  path: string;
  side: ThreadSide;
  /** The line the thread is on now: on the head side it moves with edits; on the base side it
   * never moves. For an outdated thread, where its line was. */
  line: number;
  /** The line's text when the thread was started ('' for an empty line). */
  originalLineText: string;
  state: ThreadState;
  /** Its line was deleted after the thread was started (the thread is kept). */
  outdated: boolean;
  /** Who resolved it and when, while resolved. */
  resolvedBy?: string;
  resolvedAt?: string;
  author: string;
  createdAt: string;
  updatedAt: string;
  text: string;
  replies: ThreadReply[];
  suggestion?: Suggestion;
}

export interface ThreadReply {
  id: string;
  author: string;
  createdAt: string;
  updatedAt: string;
  text: string;
}

export type SuggestionStatus = 'pending' | 'applied' | 'conflicting';

/** A change suggested for the head lines [startLine, endLine] as they were when it was made. */
export interface Suggestion {
  startLine: number;
  endLine: number;
  /** The text of those lines then, with the last line's terminator if it had one. */
  originalText: string;
  /** What replaces them: whole lines with their terminators; '' deletes the lines. */
  replacement: string;
  status: SuggestionStatus;
  /** Who applied it and when (applied). */
  appliedBy?: string;
  appliedAt?: string;
  /** Why it can no longer be applied (conflicting). */
  conflict?: string;
}

export type VerdictKind = 'approve' | 'request_changes' | 'comment';

export interface Verdict {
  reviewer: string;
  verdict: VerdictKind;
  at: string;
  message?: string;
}

export interface Participant {
  userId: string;
  displayName: string;
  /** Their roles in the session, when known. */
  roles?: ReviewRole[];
}

export type TimelineKind =
  | 'review_opened'
  | 'file_opened'
  | 'edit'
  | 'comment'
  | 'reply'
  | 'comment_edited'
  | 'resolved'
  | 'reopened'
  | 'suggestion_applied'
  | 'verdict'
  | 'viewed';

/** One entry of the review's history. The builder may fold runs of edits by one user to one file
 * into one entry (a session logs every keystroke). */
export interface TimelineEntry {
  /** The (last) sequence number of the event(s). */
  sequence: number;
  at: string;
  userId: string;
  kind: TimelineKind;
  /** The file it concerns, if any. */
  path?: string;
  /** One line for people, e.g. "commented on line 12". */
  summary: string;
}
