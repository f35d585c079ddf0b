// The SDK's public values: plain objects with numbers (the wire's int64 fields are converted at the
// edge, in wire.ts), the same whichever transport carries them.
import type { TextOp } from '../../ot/text.js';

export type { TextOp };

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed' | 'failed';

export interface FileInfo {
  path: string;
  version: number;
  text: string;
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
}

export interface ClientEvents {
  state: [ConnectionState, { code?: number; reason?: string; message?: string }];
  /** Joined and up to date (after the snapshot, or after the missed events of a resume). */
  ready: [{ resumed: boolean; headSequence: number }];
  snapshot: [{ files: FileInfo[] }];
  edit: [RemoteEdit];
  comment: [CommentInfo & { action: string; sequence: number }];
  cursor: [CursorInfo];
  presence: [PresenceInfo];
  /** A message of this client was refused (the session goes on). */
  error: [MessageError];
  /** An edit of this client was refused for good and undone on the local text. */
  rollback: [RolledBackEdit];
  /** The local text of a file was replaced by the server's (pending local edits were dropped). */
  resync: [{ path: string; reason: string; droppedEdits: number }];
  synced: [boolean];
}
