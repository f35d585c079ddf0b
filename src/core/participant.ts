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

export class Participant {
  status: PresenceStatus = 'joined';
  /** Receives live events; false while catching up from a snapshot or the log. */
  live = false;
  left = false;
  /** The last sequence number this participant has been sent (or acked). */
  lastSeq = 0;
  cursor: { path: string; offset: number } | undefined;
  /** Takes several presence changes in one roster update (the join capability "roster_updates");
   * otherwise one presence message per change, as seed clients expect. */
  acceptsRosterUpdates = false;
  readonly joinedAt: number;
  lastActiveAt: number;

  constructor(
    readonly sessionId: string,
    readonly id: string,
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
