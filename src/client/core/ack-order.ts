// Acks are applied in sequence order: an ack waits until every event sequenced before it is in.
// On a bidirectional stream they arrive that way; a half-duplex transport's Submit answers may
// overtake its Subscribe stream.
import type { Ack } from '../../gen/es/codereview/v1/codereview_pb.js';
import { int } from './wire.js';

export class AckOrder {
  private held: Ack[] = [];

  /** Whether `ack` can be applied now, after the events up to `lastSequence`. */
  ready(ack: Ack, lastSequence: number): boolean {
    return int(ack.sequence) <= lastSequence + 1;
  }

  hold(ack: Ack): void {
    const at = this.held.findIndex((a) => a.sequence > ack.sequence);
    this.held.splice(at === -1 ? this.held.length : at, 0, ack);
  }

  /** The next held ack that can be applied after `lastSequence`, if any. */
  next(lastSequence: number): Ack | undefined {
    const first = this.held[0];
    return first && this.ready(first, lastSequence) ? this.held.shift() : undefined;
  }

  /** The stream ended: what was held comes again on the resume (as acks or duplicates). */
  clear(): void {
    this.held = [];
  }
}
