// The dedupe window: recent client messages and their duplicate acks, so a resend (after a lost
// ack, a reconnect, a failover to another instance) is answered with the original commit instead
// of being applied twice. Older messages are looked up in the store; the window says when that is
// needed. Keyed by (user, client, message id): another user naming the same ids is someone else.
import type { AckView, LoggedEvent, Origin } from './model.js';

const originKey = (o: Origin) => `${o.userId}\u0000${o.clientId}\u0000${o.clientMessageId}`;

/** The ack of a committed event, as its sender (or a resend of it) receives it. */
export function ackOf(event: LoggedEvent, duplicate: boolean): AckView {
  const c = event.change;
  return {
    clientMessageId: event.origin.clientMessageId,
    sequence: event.seq,
    version: 'version' in c ? c.version : 0,
    path: c.kind === 'comment' ? c.comment.path : 'path' in c ? c.path : '',
    commentId: c.kind === 'comment' ? c.comment.id : c.kind === 'suggestion_applied' ? c.commentId : '',
    line: c.kind === 'comment' ? c.line : 0,
    duplicate,
  };
}

export class DedupeWindow {
  /** The duplicate ack of each recent client message: an ack, not the event, so the window holds a
   * small record per event rather than the event with its op and line text. */
  private recent = new Map<string, AckView>();
  /** Events from this sequence number on are all in `recent`. */
  private horizon = 1;

  constructor(private readonly capacity: number) {}

  /** Forgets everything: the events after `head` will be remembered as they are applied. */
  reset(head: number): void {
    this.recent = new Map();
    this.horizon = head + 1;
  }

  remember(event: LoggedEvent): void {
    if (!event.origin.clientMessageId) return;
    this.recent.set(originKey(event.origin), ackOf(event, true));
    if (this.recent.size > this.capacity) {
      const oldest = this.recent.keys().next().value as string;
      const evicted = this.recent.get(oldest)!;
      this.recent.delete(oldest);
      this.horizon = Math.max(this.horizon, evicted.sequence + 1);
    }
  }

  /** Takes back the newest remembered event (its commit was undone). */
  forget(event: LoggedEvent): void {
    if (event.origin.clientMessageId) this.recent.delete(originKey(event.origin));
  }

  /** The duplicate ack of a recent message; undefined when it is not recent. */
  find(origin: Origin): AckView | undefined {
    return origin.clientMessageId ? this.recent.get(originKey(origin)) : undefined;
  }

  /** Whether a message not found in the window may still be in the store (older events exist). */
  get mayBeOlder(): boolean {
    return this.horizon > 1;
  }
}
