// A participant: one joined stream (or Subscribe call) in a session.
import type { LiveReviewError } from './errors.js';
import type { Outbound, ParticipantView, PresenceStatus } from './model.js';
import type { Role } from './roles.js';

/** Where the engine sends a participant's messages. Implemented by the transport, which owns
 * encoding, the bounded outbound queue, coalescing of ephemeral messages and flow control. */
export interface ParticipantSink {
  /** Queues a message. May close the sink (slow consumer) instead of growing without bound. */
  send(msg: Outbound): void;
  /** Resolves once the sink can take more without exceeding its bound (or once it is closed). */
  ready(): Promise<void>;
  /** Ends the participant's stream: with an error status, or OK after what is queued. */
  close(error?: LiveReviewError): void;
  readonly closed: boolean;
}

/** Where a cursor is: a code point offset in a file (moved with every edit), or, in a file that
 * does not exist (yet), the line and column as the client gave them. */
export type CursorPlace = { path: string; offset: number } | { path: string; line: number; column: number };

export class Participant {
  status: PresenceStatus = 'joined';
  /** Receives live events; false while catching up from a snapshot or the log. */
  live = false;
  left = false;
  /** The last sequence number this participant has been sent (or acked). */
  lastSeq = 0;
  cursor: CursorPlace | undefined;
  /** Takes several presence changes in one roster update (the join capability "roster_updates");
   * otherwise one presence message per change, as seed clients expect. */
  acceptsRosterUpdates = false;
  /** 'seed': joined the seed's way (presence JOINED, no `join`): everything it receives is in the
   * seed's vocabulary (edits, comments, cursors, presence), including how it is brought up to date.
   * 'full': joined with `join` (welcome, snapshots, acks, in-stream errors). */
  vocabulary: 'seed' | 'full' = 'full';
  /** Whether the client named its own client id (a seed client's id is made up by the server). */
  namedClient = true;
  readonly joinedAt: number;
  lastActiveAt: number;

  constructor(
    readonly sessionId: string,
    /** Unique in the session (the room may suffix a client id another user already holds). */
    public id: string,
    readonly userId: string,
    /** Scopes client message ids; the user id for clients that do not send one. */
    readonly clientId: string,
    readonly displayName: string,
    readonly sink: ParticipantSink,
    now: number,
    /** What this participant may do; changes when its token is refreshed or its grant re-checked. */
    public role: Role = 'author',
  ) {
    this.joinedAt = now;
    this.lastActiveAt = now;
  }

  /** Whether this participant sent the message of `origin` (it gets an ack, not an echo). */
  isOriginOf(origin: { userId: string; clientId: string }): boolean {
    return this.namedClient && origin.clientId === this.clientId && origin.userId === this.userId;
  }

  view(): ParticipantView {
    return {
      participantId: this.id,
      userId: this.userId,
      displayName: this.displayName,
      status: this.status,
      joinedAt: this.joinedAt,
      lastActiveAt: this.lastActiveAt,
    };
  }
}
