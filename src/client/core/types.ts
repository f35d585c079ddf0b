// The SDK's public values: plain objects with numbers (the wire's int64 fields are converted at the
// edge, in wire.ts), the same whichever transport carries them.
import type { TextOp } from '../../ot/text.js';
import type { FileChange, VerdictKind } from '../../review/model.js';
import type { ReviewSummary } from '../../review/summary.js';

export type { FileChange, ReviewSummary, TextOp, VerdictKind };

/** 'paused': out of the session by choice (SessionClient.pause), until resume(). */
export type ConnectionState =
  'idle' | 'connecting' | 'connected' | 'reconnecting' | 'paused' | 'closed' | 'failed';

export interface FileInfo {
  path: string;
  version: number;
  text: string;
  /** What the file is compared with (when the server said: snapshots, opened files). */
  base?: FileBaseInfo;
}

/** A file's base: the immutable text its head is compared with. */
export interface FileBaseInfo {
  /** '' for a file the review adds. */
  text: string;
  /** A renamed file's path in the base. */
  previousPath?: string;
  /** How the file changed, when the review said (a review from git does). */
  change?: FileChange;
}

export interface CommentInfo {
  id: string;
  path: string;
  line: number;
  text: string;
  authorId: string;
  parentId: string;
  state: 'open' | 'resolved';
  outdated: boolean;
  originalLineText: string;
  /** 'base': `line` is a line of the file's base (it never moves). 'head': of the live text. */
  side: 'head' | 'base';
  /** A thread root's suggested change. */
  suggestion?: SuggestionInfo;
}

export interface SuggestionInfo {
  /** The lines it replaces, as they were numbered when it was made. */
  startLine: number;
  endLine: number;
  /** What replaces them ('' deletes them). */
  replacement: string;
  /** The lines' text when it was made. */
  originalText: string;
  /** pending: it can be applied; conflicting: its lines changed since (applying is refused). */
  status: 'pending' | 'applied' | 'conflicting';
  /** Why it conflicts: lines_edited, lines_partly_deleted, lines_deleted, lines_joined. */
  conflict?: string;
  appliedBy?: string;
  /** Milliseconds since the epoch. */
  appliedAt?: number;
  /** While pending: where its lines are now in this client's text (1-based, inclusive). */
  lines?: { start: number; end: number };
}

/** A reviewer's verdict. */
export interface VerdictInfo {
  reviewer: string;
  verdict: VerdictKind;
  message: string;
  /** Milliseconds since the epoch. */
  at: number;
  sequence: number;
}

/** A "viewed" mark: it counts while the file is at `version` (a change after it resets it). */
export interface ViewedInfo {
  path: string;
  userId: string;
  version: number;
  /** False: the mark was taken back. */
  viewed: boolean;
  at: number;
  sequence: number;
}

export interface RemoteEdit {
  path: string;
  /** The op as applied to this client's text (transformed past its pending edits). */
  op: TextOp;
  version: number;
  /** The first affected line and its text at `version`, on the server's text. */
  line: number;
  lineText: string;
  userId: string;
  sequence: number;
  /** When the edit is an applied suggestion: its thread and who made it (`userId` applied it). */
  suggestion?: { commentId: string; authorId: string };
}

export interface PresenceInfo {
  participantId: string;
  userId: string;
  status: 'joined' | 'active' | 'idle' | 'left';
}

export interface CursorInfo {
  participantId: string;
  userId: string;
  path: string;
  line: number;
  column: number;
}

/** A message of this client that the server refused. */
export interface MessageError {
  clientMessageId: string;
  /** The status code (gRPC's numbering; `codeName` gives its name). */
  code: number;
  /** The stable reason (docs/errors.md), '' when the server gave none. */
  reason: string;
  message: string;
  /** True when the refusal said "not now" (rate limit, store unavailable): the message is sent
   * again after the server's RetryInfo delay; false when it is refused for good. */
  willRetry: boolean;
}

/** An edit of this client the server refused for good, undone on the local text. */
export interface RolledBackEdit {
  path: string;
  clientMessageId: string;
  /** How many local edits the refused operation held (several typed while one was in flight). */
  undoneEdits: number;
  error: MessageError;
  /** The file after the rollback (undefined: the file does not exist on the server). */
  file: FileInfo | undefined;
}

export interface Ack {
  clientMessageId: string;
  sequence: number;
  commentId: string;
  duplicate: boolean;
}

/** A session as the server has it (getSession). */
export interface SessionState {
  sessionId: string;
  headSequence: number;
  files: FileInfo[];
  comments: CommentInfo[];
  participants: PresenceInfo[];
  cursors: CursorInfo[];
  /** Every verdict given, in order (each reviewer's latest counts). */
  verdicts: VerdictInfo[];
  /** Every viewed mark (current while its version is the file's). */
  viewed: ViewedInfo[];
  summary: ReviewSummary;
}

/** A file as it was right after an event (fileAt). */
export interface FileAtInfo {
  path: string;
  sequence: number;
  /** False when the file did not exist then. */
  exists: boolean;
  version: number;
  text: string;
}

export interface ClientEvents {
  state: [ConnectionState, { code?: number; reason?: string; message?: string }];
  /** Joined and up to date (after the snapshot, or after the missed events of a resume). */
  ready: [{ resumed: boolean; headSequence: number }];
  snapshot: [{ files: FileInfo[] }];
  /** A file was opened into the session while this client was in it (its text as opened). */
  file: [FileInfo];
  edit: [RemoteEdit];
  comment: [CommentInfo & { action: string; sequence: number }];
  cursor: [CursorInfo];
  presence: [PresenceInfo];
  /** A message of this client was refused (the session goes on). */
  error: [MessageError];
  /** An edit of this client was refused for good and undone on the local text. */
  rollback: [RolledBackEdit];
  /** A verdict was given (this client's own too, once committed). */
  verdict: [VerdictInfo];
  /** A file was marked viewed or not viewed (this client's own marks too, once committed). */
  viewed: [ViewedInfo];
  /** Where the review stands changed (verdicts, threads, suggestions, files viewed). */
  summary: [ReviewSummary];
  /** The local text of a file was replaced by the server's (pending local edits were dropped). */
  resync: [{ path: string; reason: string; droppedEdits: number }];
  synced: [boolean];
}
