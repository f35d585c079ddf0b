// The edge between the wire (protobuf-es messages) and the SDK's plain values. int64 fields arrive
// as bigint: they become numbers here (sequence numbers and times stay far below 2^53) and never
// reach the public types.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  CommentAction,
  CommentState,
  PresenceUpdate_Status,
  SessionMessageSchema,
  TextOperationSchema,
  type Comment,
  type FileState,
  type GetSessionResponse,
  type SessionMessage,
  type TextOperation,
} from '../../gen/es/codereview/v1/codereview_pb.js';
import type { TextOp } from '../../ot/text.js';
import type { CommentInfo, FileInfo, PresenceInfo, SessionState } from './types.js';

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
  };
}

export function fileOf(f: FileState): FileInfo {
  return { path: f.path, version: f.version, text: f.text };
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
  };
}
