// The encodings of the last few messages, by identity: how a broadcast is encoded once.
//
// A broadcast is encoded while it is handed to its recipients, one after another in one
// synchronous loop (Room.publish): its later recipients ask for the encoding of the message asked
// for just before, or a few messages before when recipients speak different vocabularies (each
// encoder keeps its own). Older messages are never asked again; if one were, it would be encoded
// again, which costs time, not correctness.
//
// A WeakMap per encoder did the same and cost more than the encoding it saved: every broadcast
// added an entry to V8's ephemeron tables (a write barrier on the slow path, and work for each
// collection). In a `perf` profile of the typing load (100 sessions x 5 x 5 edits/s) their upkeep
// was ~1 % of the server's CPU (docs/benchmarks.md, "2026-12-04, evening").

/** How many messages' encodings are kept. */
const KEPT = 4;

export class RecentEncodings<V> {
  private readonly messages: (object | undefined)[] = new Array<object | undefined>(KEPT).fill(undefined);
  private readonly encodings: (V | undefined)[] = new Array<V | undefined>(KEPT).fill(undefined);
  private next = 0;

  /** The encoding kept for this very message, if any. */
  get(message: object): V | undefined {
    for (let i = 0; i < KEPT; i++) if (this.messages[i] === message) return this.encodings[i];
    return undefined;
  }

  /** Keeps the message's encoding in place of the oldest kept. */
  set(message: object, encoding: V): void {
    this.messages[this.next] = message;
    this.encodings[this.next] = encoding;
    this.next = (this.next + 1) % KEPT;
  }
}
