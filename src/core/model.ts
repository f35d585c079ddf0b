// The engine's values: what clients ask for (commands), what the log holds (events), and what
// participants receive (outbound messages). Transports map these to and from the wire.
import type { TextOp } from '../ot/text.js';
import type { FileChange, VerdictKind } from '../review/model.js';
import type { SuggestionConflict } from '../review/suggestion.js';
import type { LiveReviewError } from './errors.js';

export type { FileChange, VerdictKind };

export type PresenceStatus = 'joined' | 'active' | 'idle' | 'left';
export type CommentActionName = 'create' | 'reply' | 'edit' | 'resolve' | 'reopen';
export type CommentStateName = 'open' | 'resolved';

/** Who sent a command: the user, the client instance, and the client's id for this message. */
export interface Origin {
  userId: string;
  clientId: string;
  /** Empty when the client did not give one (no idempotency then). */
  clientMessageId: string;
}

export type EditCommand =
  | { kind: 'edit'; path: string; baseVersion: number; op: TextOp }
  | { kind: 'edit'; path: string; baseVersion: number; line: number; content: string };

export interface CommentCommand {
  kind: 'comment';
  /** undefined: the seed's rule (create when unknown, else edit). */
  action: CommentActionName | undefined;
  commentId: string;
  /** Empty: the session's only file. */
  path: string;
  line: number;
  /** undefined: the file's current version. */
  version: number | undefined;
  text: string;
  parentId: string;
  /** 'base': a line of the file's base text (a new thread only). Undefined: the head. */
  side?: 'head' | 'base';
  /** A suggested replacement for lines of the head (a new thread only). */
  suggestion?: SuggestionInput;
}

/** A suggestion as a client gives it: lines of the head at the comment's version. */
export interface SuggestionInput {
  startLine: number;
  endLine: number;
  replacement: string;
  /** The lines' text as the client saw them; '' when it does not say (not checked). */
  originalText: string;
}

export interface CursorCommand {
  kind: 'cursor';
  path: string;
  line: number;
  column: number;
  version: number | undefined;
}

export interface PresenceCommand {
  kind: 'presence';
  status: PresenceStatus;
}

/** Opens a file with its base content (OpenReview). */
export interface OpenFileCommand {
  kind: 'open_file';
  path: string;
  text: string;
  /** What the file is compared with; undefined: the text is also the base. */
  base?: FileBase;
}

/** What a file of a review is compared with. Immutable once the file is opened. */
export interface FileBase {
  text: string;
  /** A renamed file's path in the base. */
  previousPath?: string;
  /** How the file changed, when the opener said. */
  change?: FileChange;
}

/** Applies the suggestion of a thread (any comment of it). */
export interface ApplySuggestionCommand {
  kind: 'apply_suggestion';
  commentId: string;
}

export interface VerdictCommand {
  kind: 'verdict';
  verdict: VerdictKind;
  message: string;
}

/** Marks a file viewed (or takes the mark back) at a version. */
export interface ViewedCommand {
  kind: 'viewed';
  path: string;
  /** undefined: the file's current version. */
  version: number | undefined;
  viewed: boolean;
}

export type ReviewCommand = ApplySuggestionCommand | VerdictCommand | ViewedCommand;

export type DurableCommand = EditCommand | CommentCommand | OpenFileCommand | ReviewCommand;
export type Command = DurableCommand | CursorCommand | PresenceCommand;

/** A comment's full state. Anchors are code point offsets into the file's current text. */
export interface CommentRecord {
  id: string;
  /** Empty for a comment on the review as a whole (no file: see `fixedLine`). */
  path: string;
  /** For a comment that is not anchored to a file's text (path empty): the line number it was
   * given, shown as is. */
  fixedLine?: number;
  /** Thread root id for replies, '' for a root. Replies share the root's anchor. */
  parentId: string;
  authorId: string;
  text: string;
  state: CommentStateName;
  outdated: boolean;
  /** The anchored line's range [start, end) including its terminator; moves with edits. */
  anchorStart: number;
  anchorEnd: number;
  /** The anchored line's text when the comment was made. */
  originalLineText: string;
  createdAt: number;
  updatedAt: number;
  /** 'base': on line `fixedLine` of the file's base text, which never changes (no anchor). */
  side?: 'base';
  /** A thread root's suggested change, and where its lines are now (a code point range of the
   * current text that moves with edits as anchors do). */
  suggestion?: SuggestionRecord;
  suggestionStart?: number;
  suggestionEnd?: number;
  /** Once the suggestion was applied: by whom, when, and its event. */
  appliedBy?: string;
  appliedAt?: number;
  appliedSeq?: number;
}

/** What a suggestion replaces, as made. Never changed after (shared by copies of its record). */
export interface SuggestionRecord {
  readonly startLine: number;
  readonly endLine: number;
  readonly replacement: string;
  /** The lines' text when it was made, with the last line's terminator. */
  readonly originalText: string;
}

/** A suggestion's status against the current text (src/review/suggestion.ts decides it). */
export interface SuggestionStatusView {
  status: 'pending' | 'applied' | 'conflicting';
  conflict?: SuggestionConflict;
  /** Why it conflicts, for people. */
  message?: string;
}

export type DurableChange =
  | {
      kind: 'edit';
      path: string;
      /** The file's version after this edit; `op` applies to version - 1. */
      version: number;
      op: TextOp;
      /** First affected line at the new version and its text (for seed clients). */
      line: number;
      lineText: string;
    }
  | {
      kind: 'comment';
      action: CommentActionName;
      /** The comment's state after the action. */
      comment: CommentRecord;
      /** The thread's line at commit time, and the file version it refers to. */
      line: number;
      version: number;
      /** A suggestion's status at commit time. */
      suggestionStatus?: SuggestionStatusView;
    }
  | {
      kind: 'file_opened';
      path: string;
      version: number;
      text: string;
      /** undefined: the text is also the base. */
      base?: FileBase;
    }
  | ReviewChange;

/** The durable changes of review features (src/core/review-commands.ts prepares them). */
export type ReviewChange =
  | {
      /** A suggestion applied: an edit, attributed to its applier (the event's user) and to the
       * suggestion's author, and the thread marked applied and resolved. */
      kind: 'suggestion_applied';
      path: string;
      version: number;
      op: TextOp;
      line: number;
      lineText: string;
      commentId: string;
      suggestionAuthorId: string;
      appliedBy: string;
      appliedAt: number;
      /** The thread's root after, and its line at `version` (filled when committed). */
      thread?: { comment: CommentRecord; line: number };
    }
  | { kind: 'verdict'; reviewer: string; verdict: VerdictKind; message: string; at: number }
  | { kind: 'viewed'; path: string; userId: string; version: number; viewed: boolean; at: number };

/** A committed, durable event of a session's log. Never mutated after creation. */
export interface LoggedEvent {
  readonly sessionId: string;
  readonly seq: number;
  /** Commit time, ms since the epoch. */
  readonly at: number;
  readonly origin: Origin;
  readonly change: DurableChange;
}

export interface FileView {
  path: string;
  version: number;
  text: string;
  /** Always set on views the engine makes; absent in snapshots stored before bases existed. */
  base?: FileBase;
}

export interface VerdictView {
  reviewer: string;
  verdict: VerdictKind;
  message: string;
  at: number;
  seq: number;
}

/** A viewed mark: it counts while the file is at `version`. */
export interface ViewedView {
  path: string;
  userId: string;
  version: number;
  at: number;
  seq: number;
}

/** A comment as shown to clients: its record plus where its anchor is now. */
export interface CommentView extends CommentRecord {
  line: number;
  version: number;
  suggestionStatus?: SuggestionStatusView;
}

export interface ParticipantView {
  participantId: string;
  userId: string;
  displayName: string;
  status: PresenceStatus;
  joinedAt: number;
  lastActiveAt: number;
}

export interface CursorView {
  participantId: string;
  userId: string;
  path: string;
  line: number;
  column: number;
  version: number;
}

export interface SnapshotChunkView {
  sequence: number;
  index: number;
  count: number;
  files: (FileView & { continued: boolean })[];
  comments: CommentView[];
  verdicts: VerdictView[];
  viewed: ViewedView[];
}

export interface AckView {
  clientMessageId: string;
  sequence: number;
  /** Edits: the version after the edit. Comments: the version `line` refers to. */
  version: number;
  path: string;
  commentId: string;
  /** Comments: the thread's line at commit time. */
  line: number;
  duplicate: boolean;
}

export interface WelcomeView {
  participantId: string;
  headSequence: number;
  sync: 'snapshot' | 'resume';
  syncReason: string;
  roster: ParticipantView[];
  cursors: CursorView[];
}

/** What the engine hands to a participant's sink. `event` values are shared by all recipients of a
 * broadcast, so a transport can encode each once. */
export type Outbound =
  | { type: 'event'; event: LoggedEvent }
  | { type: 'welcome'; sessionId: string; welcome: WelcomeView }
  | { type: 'snapshot'; sessionId: string; chunk: SnapshotChunkView }
  | { type: 'ack'; sessionId: string; ack: AckView }
  | { type: 'error'; sessionId: string; clientMessageId: string; error: LiveReviewError }
  | { type: 'presence'; sessionId: string; participant: ParticipantView; at: number }
  /** Several presence changes at once, for participants that accept them (see Participant). */
  | { type: 'roster'; sessionId: string; participants: ParticipantView[]; at: number }
  | { type: 'cursor'; sessionId: string; cursor: CursorView; at: number }
  /** A comment as it stands (a seed client's catch-up: it has no snapshot). */
  | { type: 'comment'; sessionId: string; comment: CommentView; at: number }
  /** A seed line edit: replace line `line` of `path` with `content` at `version` (a seed client's
   * catch-up of a file's text, and files opened while it is here). */
  | {
      type: 'line';
      sessionId: string;
      path: string;
      line: number;
      content: string;
      version: number;
      at: number;
    }
  | { type: 'reauthenticate'; sessionId: string; expiresAt: number };
