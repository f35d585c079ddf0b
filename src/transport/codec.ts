// The wire edge: SessionMessage <-> engine values. Parsing validates shapes and returns values or
// throws a LiveReviewError naming the field; the engine validates meaning.
import { invalidMessage, LiveReviewError } from '../core/errors.js';
import type {
  AckView,
  Command,
  CommentActionName,
  CommentStateName,
  CommentView,
  CursorView,
  FileView,
  LoggedEvent,
  Outbound,
  ParticipantView,
  PresenceStatus,
  SnapshotChunkView,
  WelcomeView,
} from '../core/model.js';
import type { TextOp } from '../ot/text.js';
import {
  CommentAction,
  CommentSide,
  CommentState,
  PresenceUpdate_Status,
  SessionMessage,
  SyncMode,
  type Comment,
  type CursorState,
  type FileState,
  type Participant as WireParticipant,
  type TextOperation,
} from '../gen/codereview/v1/codereview.js';
import {
  commentReviewFromWire,
  commentReviewToWire,
  fileBaseToWire,
  reviewCommandFromWire,
  reviewEventPayload,
  verdictToWire,
  viewedToWire,
} from './review-codec.js';
import { toRpcStatus } from './rpc-status.js';

export type Inbound =
  | {
      kind: 'join';
      /** Joined the seed's way (presence JOINED): bring it up to date in seed messages only. */
      seed: boolean;
      clientId: string;
      resumeAfter: number | undefined;
      displayName: string;
      capabilities: string[];
    }
  | { kind: 'command'; command: Command }
  | { kind: 'token_refresh'; token: string }
  | { kind: 'leave' };

/** A message that could not be decoded at all (kept so the call can be answered with a status). */
export interface Undecodable {
  undecodable: true;
  problem: string;
}

/** A request deserializer that never throws: grpc-js answers a throw with INTERNAL (a server bug,
 * by the documented meaning) and, on a stream, ends the whole call. Bytes that do not decode, or
 * carry an int64 beyond 2^53, reach the handler as an Undecodable instead. */
export function tolerantDecoder<T>(codec: {
  decode(input: Uint8Array): T;
}): (bytes: Buffer) => T | Undecodable {
  return (bytes) => {
    try {
      return codec.decode(bytes);
    } catch (err) {
      return { undecodable: true, problem: (err as Error).message };
    }
  };
}

export const decodeSessionMessage = tolerantDecoder(SessionMessage);

/** The status for request bytes that did not decode as `messageName`. */
export function malformedRequest(messageName: string, problem: string): LiveReviewError {
  return new LiveReviewError('MALFORMED_REQUEST', `the request is not a valid ${messageName}: ${problem}`, {
    fieldViolations: [{ field: messageName, description: problem }],
  });
}

export function isUndecodable<T extends object>(m: T | Undecodable): m is Undecodable {
  return (m as Undecodable).undecodable === true;
}

// Maps, not object literals: keys come off the wire, and a lookup must never reach a prototype.
const PRESENCE_FROM_WIRE = new Map<number, PresenceStatus>([
  [PresenceUpdate_Status.JOINED, 'joined'],
  [PresenceUpdate_Status.ACTIVE, 'active'],
  [PresenceUpdate_Status.IDLE, 'idle'],
  [PresenceUpdate_Status.LEFT, 'left'],
]);

const PRESENCE_TO_WIRE: Record<PresenceStatus, PresenceUpdate_Status> = {
  joined: PresenceUpdate_Status.JOINED,
  active: PresenceUpdate_Status.ACTIVE,
  idle: PresenceUpdate_Status.IDLE,
  left: PresenceUpdate_Status.LEFT,
};

const ACTION_FROM_WIRE = new Map<number, CommentActionName | undefined>([
  [CommentAction.COMMENT_ACTION_UNSPECIFIED, undefined],
  [CommentAction.COMMENT_ACTION_CREATE, 'create'],
  [CommentAction.COMMENT_ACTION_REPLY, 'reply'],
  [CommentAction.COMMENT_ACTION_EDIT, 'edit'],
  [CommentAction.COMMENT_ACTION_RESOLVE, 'resolve'],
  [CommentAction.COMMENT_ACTION_REOPEN, 'reopen'],
]);

const ACTION_TO_WIRE: Record<CommentActionName, CommentAction> = {
  create: CommentAction.COMMENT_ACTION_CREATE,
  reply: CommentAction.COMMENT_ACTION_REPLY,
  edit: CommentAction.COMMENT_ACTION_EDIT,
  resolve: CommentAction.COMMENT_ACTION_RESOLVE,
  reopen: CommentAction.COMMENT_ACTION_REOPEN,
};

const STATE_TO_WIRE: Record<CommentStateName, CommentState> = {
  open: CommentState.COMMENT_STATE_OPEN,
  resolved: CommentState.COMMENT_STATE_RESOLVED,
};

function parseOperations(ops: TextOperation[]): TextOp {
  return ops.map((o, i): TextOp[number] => {
    const field = `edit.operations[${i}]`;
    switch (o.kind?.$case) {
      case 'retain':
        if (o.kind.value < 1) throw invalidMessage(`${field}.retain`, 'must be at least 1');
        return o.kind.value;
      case 'insert':
        if (o.kind.value === '') throw invalidMessage(`${field}.insert`, 'must not be empty');
        return o.kind.value;
      case 'delete':
        if (o.kind.value < 1) throw invalidMessage(`${field}.delete`, 'must be at least 1');
        return { d: o.kind.value };
      default:
        throw invalidMessage(field, 'one of retain, insert, delete is required');
    }
  });
}

/** Parses a client message into what it asks for. `payload` names the field path for errors. */
export function parseInbound(msg: SessionMessage): Inbound {
  const payload = msg.payload;
  switch (payload?.$case) {
    case 'join': {
      const j = payload.value;
      if (j.resumeAfterSequence !== undefined && j.resumeAfterSequence < 0) {
        throw invalidMessage('join.resume_after_sequence', 'must not be negative');
      }
      return {
        kind: 'join',
        seed: false,
        clientId: j.clientId,
        resumeAfter: j.resumeAfterSequence,
        displayName: j.displayName,
        capabilities: j.capabilities,
      };
    }
    case 'presence': {
      const status = PRESENCE_FROM_WIRE.get(payload.value.status);
      if (!status) throw invalidMessage('presence.status', `unknown status ${payload.value.status}`);
      if (status === 'joined') {
        return {
          kind: 'join',
          seed: true,
          clientId: '',
          resumeAfter: undefined,
          displayName: '',
          capabilities: [],
        };
      }
      if (status === 'left') return { kind: 'leave' };
      return { kind: 'command', command: { kind: 'presence', status } };
    }
    case 'edit': {
      const e = payload.value;
      if (e.version < 0) throw invalidMessage('edit.version', 'must not be negative');
      if (e.operations.length > 0) {
        return {
          kind: 'command',
          command: {
            kind: 'edit',
            path: e.filePath,
            baseVersion: e.version,
            op: parseOperations(e.operations),
          },
        };
      }
      if (e.lineNumber < 1) {
        throw invalidMessage('edit.line_number', 'a line edit (no operations) needs a line number from 1');
      }
      return {
        kind: 'command',
        command: {
          kind: 'edit',
          path: e.filePath,
          baseVersion: e.version,
          line: e.lineNumber,
          content: e.content,
        },
      };
    }
    case 'comment': {
      const c = payload.value;
      if (!ACTION_FROM_WIRE.has(c.action))
        throw invalidMessage('comment.action', `unknown action ${c.action}`);
      if (c.version < 0) throw invalidMessage('comment.version', 'must not be negative');
      const review = commentReviewFromWire(c);
      return {
        kind: 'command',
        command: {
          kind: 'comment',
          action: ACTION_FROM_WIRE.get(c.action),
          commentId: c.commentId,
          path: c.filePath,
          // A suggestion's thread is on its last line unless the comment names one of its lines.
          line: c.lineNumber || (review.suggestion?.endLine ?? 0),
          // 0 means "current" for seed clients, which never send a version.
          version: c.version > 0 ? c.version : undefined,
          text: c.text,
          parentId: c.parentId,
          ...review,
        },
      };
    }
    case 'cursor': {
      const c = payload.value;
      return {
        kind: 'command',
        command: {
          kind: 'cursor',
          path: c.filePath,
          line: c.line,
          column: c.column,
          version: c.version > 0 ? c.version : undefined,
        },
      };
    }
    case 'tokenRefresh':
      if (!payload.value.token) throw invalidMessage('token_refresh.token', 'is required');
      return { kind: 'token_refresh', token: payload.value.token };
    case 'applySuggestion':
    case 'verdict':
    case 'fileViewed':
      return { kind: 'command', command: reviewCommandFromWire(payload)! };
    case undefined:
      throw invalidMessage(
        'payload',
        'one of edit, comment, cursor, presence, join, apply_suggestion, verdict, file_viewed is required',
      );
    default:
      throw invalidMessage((payload as { $case: string }).$case, 'is sent by the server only');
  }
}

// ---- engine -> wire ----------------------------------------------------------------------------

export function commentToWire(c: CommentView | (LoggedEvent['change'] & { kind: 'comment' })): Comment {
  const record = 'comment' in c ? c.comment : c;
  const line = c.line;
  const version = c.version;
  return {
    ...commentReviewToWire(record, c.suggestionStatus),
    commentId: record.id,
    lineNumber: line,
    text: record.text,
    filePath: record.path,
    action: 'action' in c ? ACTION_TO_WIRE[c.action] : CommentAction.COMMENT_ACTION_UNSPECIFIED,
    parentId: record.parentId,
    version,
    authorId: record.authorId,
    state: STATE_TO_WIRE[record.state],
    outdated: record.outdated,
    originalLineText: record.originalLineText,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

function operationsToWire(op: TextOp): TextOperation[] {
  return op.map((c) => {
    if (typeof c === 'number') return { kind: { $case: 'retain', value: c } };
    if (typeof c === 'string') return { kind: { $case: 'insert', value: c } };
    return { kind: { $case: 'delete', value: typeof c.d === 'number' ? c.d : [...c.d].length } };
  });
}

export function fileToWire(f: FileView & { continued?: boolean }): FileState {
  return {
    path: f.path,
    version: f.version,
    text: f.text,
    continued: f.continued ?? false,
    base: f.base && fileBaseToWire(f.base),
  };
}

export function participantToWire(p: ParticipantView): WireParticipant {
  return {
    participantId: p.participantId,
    userId: p.userId,
    displayName: p.displayName,
    status: PRESENCE_TO_WIRE[p.status],
    joinedAt: p.joinedAt,
    lastActiveAt: p.lastActiveAt,
  };
}

export function cursorToWire(c: CursorView): CursorState {
  return {
    participantId: c.participantId,
    userId: c.userId,
    position: { filePath: c.path, line: c.line, column: c.column, version: c.version },
  };
}

function eventToWire(event: LoggedEvent): SessionMessage {
  const c = event.change;
  const base = {
    sessionId: event.sessionId,
    timestamp: event.at,
    userId: event.origin.userId,
    sequence: event.seq,
    clientMessageId: event.origin.clientMessageId,
    clientId: event.origin.clientId,
  };
  switch (c.kind) {
    case 'edit':
      return {
        ...base,
        payload: {
          $case: 'edit',
          value: {
            filePath: c.path,
            lineNumber: c.line,
            content: c.lineText,
            version: c.version,
            operations: operationsToWire(c.op),
          },
        },
      };
    case 'comment':
      return { ...base, payload: { $case: 'comment', value: commentToWire(c) } };
    case 'file_opened':
      return {
        ...base,
        payload: {
          $case: 'fileOpened',
          value: {
            path: c.path,
            version: c.version,
            text: c.text,
            base: fileBaseToWire(c.base ?? { text: c.text }),
          },
        },
      };
    case 'suggestion_applied':
      return {
        ...base,
        payload: {
          $case: 'suggestionApplied',
          value: {
            commentId: c.commentId,
            suggestionAuthorId: c.suggestionAuthorId,
            edit: {
              filePath: c.path,
              lineNumber: c.line,
              content: c.lineText,
              version: c.version,
              operations: operationsToWire(c.op),
            },
            comment:
              c.thread &&
              commentToWire({
                ...c.thread.comment,
                line: c.thread.line,
                version: c.version,
                suggestionStatus: { status: 'applied' },
              }),
          },
        },
      };
    case 'verdict':
    case 'viewed':
      return { ...base, payload: reviewEventPayload(event) };
  }
}

export interface WelcomeExtras {
  serverId: string;
  maxMessageBytes: number;
  idleAfterMs: number;
}

function welcomeToWire(w: WelcomeView, extras: WelcomeExtras) {
  return {
    participantId: w.participantId,
    headSequence: w.headSequence,
    sync: w.sync === 'resume' ? SyncMode.SYNC_MODE_RESUME : SyncMode.SYNC_MODE_SNAPSHOT,
    syncReason: w.syncReason,
    roster: w.roster.map(participantToWire),
    cursors: w.cursors.map(cursorToWire),
    serverId: extras.serverId,
    maxMessageBytes: extras.maxMessageBytes,
    idleAfterMs: extras.idleAfterMs,
  };
}

function snapshotToWire(c: SnapshotChunkView) {
  return {
    sequence: c.sequence,
    index: c.index,
    count: c.count,
    files: c.files.map(fileToWire),
    comments: c.comments.map(commentToWire),
    verdicts: c.verdicts.map(verdictToWire),
    viewed: c.viewed.map((m) => viewedToWire(m)),
  };
}

export function ackToWire(a: AckView) {
  return {
    clientMessageId: a.clientMessageId,
    sequence: a.sequence,
    version: a.version,
    filePath: a.path,
    duplicate: a.duplicate,
    commentId: a.commentId,
    lineNumber: a.line,
  };
}

/** The SessionMessage for an outbound engine message. */
export function outboundToWire(msg: Outbound, extras: WelcomeExtras, now: number): SessionMessage {
  const empty = { sessionId: '', timestamp: now, userId: '', sequence: 0, clientMessageId: '', clientId: '' };
  switch (msg.type) {
    case 'event':
      return eventToWire(msg.event);
    case 'welcome':
      return {
        ...empty,
        sessionId: msg.sessionId,
        clientId: msg.welcome.participantId,
        payload: { $case: 'welcome', value: welcomeToWire(msg.welcome, extras) },
      };
    case 'snapshot':
      return {
        ...empty,
        sessionId: msg.sessionId,
        sequence: 0,
        payload: { $case: 'snapshot', value: snapshotToWire(msg.chunk) },
      };
    case 'ack':
      return {
        ...empty,
        sessionId: msg.sessionId,
        clientMessageId: msg.ack.clientMessageId,
        payload: { $case: 'ack', value: ackToWire(msg.ack) },
      };
    case 'error':
      return {
        ...empty,
        sessionId: msg.sessionId,
        clientMessageId: msg.clientMessageId,
        payload: {
          $case: 'error',
          value: { clientMessageId: msg.clientMessageId, status: toRpcStatus(msg.error) },
        },
      };
    case 'roster':
      return {
        ...empty,
        sessionId: msg.sessionId,
        timestamp: msg.at,
        payload: { $case: 'rosterUpdate', value: { participants: msg.participants.map(participantToWire) } },
      };
    case 'presence':
      return {
        ...empty,
        sessionId: msg.sessionId,
        timestamp: msg.at,
        userId: msg.participant.userId,
        clientId: msg.participant.participantId,
        payload: {
          $case: 'presence',
          value: {
            status: PRESENCE_TO_WIRE[msg.participant.status],
            clientId: msg.participant.participantId,
          },
        },
      };
    case 'reauthenticate':
      return {
        ...empty,
        sessionId: msg.sessionId,
        payload: { $case: 'reauthenticate', value: { expiresAt: msg.expiresAt } },
      };
    case 'cursor':
      return {
        ...empty,
        sessionId: msg.sessionId,
        timestamp: msg.at,
        userId: msg.cursor.userId,
        clientId: msg.cursor.participantId,
        payload: {
          $case: 'cursor',
          value: {
            filePath: msg.cursor.path,
            line: msg.cursor.line,
            column: msg.cursor.column,
            version: msg.cursor.version,
          },
        },
      };
    case 'comment':
      return {
        ...empty,
        sessionId: msg.sessionId,
        timestamp: msg.at,
        userId: msg.comment.authorId,
        payload: { $case: 'comment', value: commentToWire(msg.comment) },
      };
    case 'line':
      return {
        ...empty,
        sessionId: msg.sessionId,
        timestamp: msg.at,
        payload: {
          $case: 'edit',
          value: {
            filePath: msg.path,
            lineNumber: msg.line,
            content: msg.content,
            version: msg.version,
            operations: [],
          },
        },
      };
  }
}

/** The payloads of the seed's `oneof`: all a seed client can decode. */
const SEED_PAYLOADS = new Set(['edit', 'comment', 'cursor', 'presence']);

/** The SessionMessage a seed client receives for an outbound message, or undefined when the seed's
 * vocabulary has nothing for it (acks, in-stream errors, welcome, snapshots, roster batches, token
 * requests): those are never sent to a seed client. Edits carry the line and its text, not the
 * operations (a field the seed does not know: bytes for nothing). */
export function outboundToSeedWire(
  msg: Outbound,
  extras: WelcomeExtras,
  now: number,
): SessionMessage | undefined {
  const wire = outboundToWire(msg, extras, now);
  const payload = wire.payload;
  if (!payload || !SEED_PAYLOADS.has(payload.$case)) return undefined;
  // A line of a base would show on the head line of that number.
  if (payload.$case === 'comment' && payload.value.side === CommentSide.COMMENT_SIDE_BASE) return undefined;
  if (payload.$case === 'edit' && payload.value.operations.length > 0) {
    return { ...wire, payload: { $case: 'edit', value: { ...payload.value, operations: [] } } };
  }
  return wire;
}
