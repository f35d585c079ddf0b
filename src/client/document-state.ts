// Client-side OT state of one file (the classic three states: synchronized, awaiting an ack,
// awaiting an ack with a buffer). Local edits apply at once; at most one op is in flight, based on
// the last server version seen; remote ops transform what is pending. The server transforms an
// incoming op with side 'left' against what it committed first, so here a remote op is transformed
// with side 'right' against pending local ops, and pending ops with 'left' against the remote op.
import { applyOp, composeOps, transformOp, type TextOp } from '../ot/text.js';

export interface PendingOp {
  op: TextOp;
  /** The server version the op is based on. */
  baseVersion: number;
  clientMessageId: string;
}

export class DocumentState {
  private inflight: PendingOp | undefined;
  private buffer: TextOp | undefined;

  constructor(
    readonly path: string,
    /** The text as this client sees it (server state plus pending local ops). */
    public text: string,
    /** The last server version this client has applied. */
    public version: number,
  ) {}

  /** True when every local op has been acknowledged. */
  get synced(): boolean {
    return !this.inflight && !this.buffer;
  }

  get pending(): PendingOp | undefined {
    return this.inflight;
  }

  /** Applies a local edit. Returns the op to send now, if nothing was in flight. */
  applyLocal(op: TextOp, nextMessageId: () => string): PendingOp | undefined {
    // An op with no components changes nothing, and on the wire "no operations" means a seed line
    // edit: never send one.
    if (op.length === 0) return undefined;
    this.text = applyOp(this.text, op);
    if (this.inflight) {
      this.buffer = this.buffer ? composeOps(this.buffer, op) : op;
      return undefined;
    }
    this.inflight = { op, baseVersion: this.version, clientMessageId: nextMessageId() };
    return this.inflight;
  }

  /** The server committed our in-flight op as `version`. Returns the buffered op to send next. */
  acknowledge(version: number, nextMessageId: () => string): PendingOp | undefined {
    this.inflight = undefined;
    this.version = version;
    // A buffer that remote edits reduced to nothing (it deleted what they deleted) is dropped.
    if (!this.buffer || this.buffer.length === 0) {
      this.buffer = undefined;
      return undefined;
    }
    this.inflight = { op: this.buffer, baseVersion: this.version, clientMessageId: nextMessageId() };
    this.buffer = undefined;
    return this.inflight;
  }

  /** A remote op committed as `version` (it applies to version - 1, which is ours). */
  applyRemote(op: TextOp, version: number): void {
    let remote = op;
    if (this.inflight) {
      const pending = this.inflight.op;
      // The transformed op applies after the remote one: if it has to be resent (its ack was lost
      // with the connection), it is based on the new version.
      this.inflight = { ...this.inflight, op: transformOp(pending, remote, 'left'), baseVersion: version };
      remote = transformOp(remote, pending, 'right');
    }
    if (this.buffer) {
      const buffered = this.buffer;
      this.buffer = transformOp(buffered, remote, 'left');
      remote = transformOp(remote, buffered, 'right');
    }
    this.text = applyOp(this.text, remote);
    this.version = version;
  }

  /** Replaces everything with a snapshot (after a resync): pending local ops are dropped. */
  reset(text: string, version: number): void {
    this.text = text;
    this.version = version;
    this.inflight = undefined;
    this.buffer = undefined;
  }
}
