// A participant's outbound path: encode (once per broadcast), queue (bounded in messages and
// bytes), coalesce ephemeral traffic (a lagging participant gets the latest cursor and presence of
// each peer, not every intermediate one), and write honouring back-pressure (write() === false ->
// wait for 'drain'). A participant whose queue overflows is cut off with a resumable status: it
// resumes from the log, and nobody else waits for it.
import { slowConsumer, type LiveReviewError } from '../core/errors.js';
import type { Outbound } from '../core/model.js';
import type { ParticipantSink } from '../core/participant.js';

export interface StreamWriter {
  /** Writes one encoded message (or, when joinable, several); false means "buffer full, wait for
   * drain". */
  write(bytes: Buffer): boolean;
  /** Messages are whole frames of the wire format: those sent in one turn go as one write. */
  joinable?: boolean;
  onceDrain(fn: () => void): void;
  /** Ends the stream: OK, or with the error's status. */
  end(error?: LiveReviewError): void;
}

export interface OutboundLimits {
  maxMessages: number;
  maxBytes: number;
}

export interface OutboundObserver {
  written(msg: Outbound, bytes: number): void;
  depthChanged(delta: number): void;
  cutOff(): void;
  /** A message the participant's vocabulary has no form for was not sent (a seed client's ack). */
  withheld(msg: Outbound): void;
}

/** Joined messages are written at once past this many bytes (well under grpc-js's send limit,
 * which applies to a write as a whole). */
const MAX_JOINED_BYTES = 64 * 1024;

/** Queues holding joined messages for the end of this turn, written by one microtask for all of
 * them. A microtask per queue cost an `AsyncResource`, a bound function and an async scope each
 * (Node's `queueMicrotask`): under the typing load that was one per recipient of every commit. */
const joinedQueues: OutboundQueue[] = [];
let joinedWriteScheduled = false;
const settledPromise = Promise.resolve();

function writeJoinedLater(queue: OutboundQueue): void {
  joinedQueues.push(queue);
  if (joinedWriteScheduled) return;
  joinedWriteScheduled = true;
  void settledPromise.then(writeJoinedQueues);
}

function writeJoinedQueues(): void {
  joinedWriteScheduled = false;
  let i = 0;
  try {
    // By index: a write may join more (a drain that flushes a queue), and those go in this pass.
    for (; i < joinedQueues.length; i++) joinedQueues[i]!.writeJoinedNow();
  } finally {
    // Should a write throw, the queues after it are written by a microtask of their own.
    const rest = joinedQueues.splice(0).slice(i + 1);
    for (const queue of rest) writeJoinedLater(queue);
  }
}

interface Entry {
  msg: Outbound;
  bytes: Buffer;
  key: string | undefined;
}

/** Ephemeral messages replace an earlier queued one with the same key. */
function coalesceKey(msg: Outbound): string | undefined {
  if (msg.type === 'cursor') return `c\u0000${msg.cursor.participantId}`;
  if (msg.type === 'presence') return `p\u0000${msg.participant.participantId}`;
  return undefined;
}

/** Welcome and snapshot chunks are required to make sense of everything after them: they are
 * never refused, and the engine paces catch-up with ready(), so they cannot pile up unboundedly. */
function isRequired(msg: Outbound): boolean {
  return msg.type === 'welcome' || msg.type === 'snapshot';
}

export class OutboundQueue implements ParticipantSink {
  private entries: (Entry | undefined)[] = [];
  private head = 0;
  private bytes = 0;
  private readonly pendingByKey = new Map<string, Entry>();
  private blocked = false;
  private closing = false;
  private done = false;
  private waiters: (() => void)[] = [];
  /** Joinable messages written this turn, not yet handed to the writer (see writeNow): the first,
   * then any more (an array only for turns that join several: most join one, and an emptied array
   * gives up its storage, so pushing to it again allocated some for every message). */
  private joinedFirst: Buffer | undefined;
  private readonly joinedMore: Buffer[] = [];
  private joinedBytes = 0;
  private joinScheduled = false;

  constructor(
    private readonly writer: StreamWriter,
    /** undefined: this participant is not sent such a message (see OutboundObserver.withheld). */
    private readonly encode: (msg: Outbound) => Buffer | undefined,
    private readonly limits: OutboundLimits,
    private readonly observer: OutboundObserver,
  ) {}

  get closed(): boolean {
    return this.done || this.closing;
  }

  get depth(): number {
    return this.entries.length - this.head;
  }

  send(msg: Outbound): void {
    if (this.closed) return;
    const bytes = this.encode(msg);
    if (!bytes) {
      this.observer.withheld(msg);
      return;
    }
    if (this.depth === 0 && !this.blocked) {
      // The common case: nothing waits ahead of it, so it goes straight to the stream.
      this.writeNow(msg, bytes);
      return;
    }
    const key = coalesceKey(msg);
    if (key !== undefined) {
      const queued = this.pendingByKey.get(key);
      if (queued) {
        this.bytes += bytes.length - queued.bytes.length;
        queued.msg = msg;
        queued.bytes = bytes;
        return;
      }
    }
    if (
      !isRequired(msg) &&
      (this.depth + 1 > this.limits.maxMessages || this.bytes + bytes.length > this.limits.maxBytes)
    ) {
      this.observer.cutOff();
      this.close(slowConsumer(this.depth, this.bytes));
      return;
    }
    const entry: Entry = { msg, bytes, key };
    this.entries.push(entry);
    this.bytes += bytes.length;
    if (key !== undefined) this.pendingByKey.set(key, entry);
    this.observer.depthChanged(1);
    this.flush();
  }

  private flush(): void {
    while (!this.blocked && !this.done && this.head < this.entries.length) {
      const entry = this.entries[this.head]!;
      this.entries[this.head++] = undefined;
      this.bytes -= entry.bytes.length;
      if (entry.key !== undefined) this.pendingByKey.delete(entry.key);
      this.observer.depthChanged(-1);
      this.writeNow(entry.msg, entry.bytes);
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    if (this.hasRoom) this.wakeWaiters();
    if (this.closing && !this.done && this.depth === 0) this.finish(undefined);
  }

  private writeNow(msg: Outbound, bytes: Buffer): void {
    this.observer.written(msg, bytes.length);
    if (!this.writer.joinable) {
      this.writeOut(bytes);
      return;
    }
    // A commit sends a participant its broadcasts and acks in one go: they leave as one write at
    // the end of the turn (a microtask), or at once past MAX_JOINED_BYTES.
    if (this.joinedFirst === undefined) this.joinedFirst = bytes;
    else this.joinedMore.push(bytes);
    this.joinedBytes += bytes.length;
    if (this.joinedBytes >= MAX_JOINED_BYTES) this.writeJoined();
    else if (!this.joinScheduled) {
      this.joinScheduled = true;
      writeJoinedLater(this);
    }
  }

  /** The end of the turn: what was joined leaves (see writeJoinedLater). */
  writeJoinedNow(): void {
    this.joinScheduled = false;
    this.writeJoined();
  }

  private writeJoined(): void {
    const first = this.joinedFirst;
    if (first === undefined) return;
    const more = this.joinedMore;
    let bytes = first;
    if (more.length > 0) {
      more.unshift(first);
      bytes = Buffer.concat(more, this.joinedBytes);
      more.length = 0;
    }
    this.joinedFirst = undefined;
    this.joinedBytes = 0;
    if (!this.done) this.writeOut(bytes); // (abandoned: nothing more is written)
  }

  private writeOut(bytes: Buffer): void {
    if (!this.writer.write(bytes) && !this.blocked) {
      this.blocked = true;
      this.writer.onceDrain(() => {
        this.blocked = false;
        this.flush();
      });
    }
  }

  /** Room for more without nearing either bound: a quarter of the messages and of the bytes. A
   * catch-up through large events waits on bytes, not only on messages (a resume through 600
   * events of 40 KB used to be cut off by its own catch-up). */
  private get hasRoom(): boolean {
    return (
      this.depth <= Math.floor(this.limits.maxMessages / 4) &&
      this.bytes <= Math.floor(this.limits.maxBytes / 4)
    );
  }

  /** More is queued than `hasRoom` allows: the participant is not keeping up with what it is sent.
   * Its connection stops reading what it sends until it has room again (see Connection.track). */
  get congested(): boolean {
    return !this.closed && !this.hasRoom;
  }

  ready(): Promise<void> {
    if (this.closed || (this.hasRoom && !this.blocked)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** With an error: drop what is queued (the client resumes from the log) and end with its status.
   * Without: deliver what is queued, then end OK. */
  close(error?: LiveReviewError): void {
    if (this.done) return;
    if (error) {
      this.observer.depthChanged(-this.depth);
      this.entries = [];
      this.head = 0;
      this.bytes = 0;
      this.pendingByKey.clear();
      this.finish(error);
      return;
    }
    this.closing = true;
    this.flush();
  }

  /** The stream is gone (cancelled): release everything, write nothing more. */
  abandon(): void {
    if (this.done) return;
    this.observer.depthChanged(-this.depth);
    this.entries = [];
    this.head = 0;
    this.pendingByKey.clear();
    this.joinedFirst = undefined;
    this.joinedMore.length = 0;
    this.joinedBytes = 0;
    this.done = true;
    this.wakeWaiters();
  }

  private finish(error: LiveReviewError | undefined): void {
    // What was written before the end goes before it (as it would have without joining).
    this.writeJoined();
    this.done = true;
    this.wakeWaiters();
    this.writer.end(error);
  }
}
