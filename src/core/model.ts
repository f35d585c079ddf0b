// The engine's values: what clients ask for (commands), what the log holds (events), and what
// participants receive (outbound messages). Transports map these to and from the wire.
import type { TextOp } from '../ot/text.js';
import type { LiveReviewError } from './errors.js';

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
}

export type DurableCommand = EditCommand | CommentCommand | OpenFileCommand;
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
    }
  | { kind: 'file_opened'; path: string; version: number; text: string };

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
}

/** A comment as shown to clients: its record plus where its anchor is now. */
export interface CommentView extends CommentRecord {
  line: number;
  version: number;
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
