// Client-side OT state of one file (the classic three states: synchronized, awaiting an ack,
// awaiting an ack with a buffer). Local edits apply at once; at most one op is in flight, based on
// the last server version seen; remote ops transform what is pending. The server transforms an
// incoming op with side 'left' against what it committed first, so here a remote op is transformed
// with side 'right' against pending local ops, and pending ops with 'left' against the remote op.
// That makes the in-flight op, once acknowledged, exactly the op the server committed.
//
// Besides the local text it keeps the server's text at `version`: comment anchors live on it (they
// move only with committed ops, as on the server), and a refused op is undone against it.
import {
  applyOp,
  composeOps,
  hasSurrogate,
  invertOp,
  makeInvertible,
  transformOp,
  type TextOp,
} from '../../ot/text.js';
import { positionOf } from '../../ot/lines.js';
import { LineStarts } from '../../ot/line-starts.js';

/** Whether an op inserts text with surrogate pairs (after it, a text may no longer be BMP-only). */
const insertsAstral = (op: TextOp) => op.some((c) => typeof c === 'string' && hasSurrogate(c));

export interface PendingOp {
  op: TextOp;
  /** The server version the op is based on. */
  baseVersion: number;
  clientMessageId: string;
}

export class DocumentState {
  private inflight: PendingOp | undefined;
  private buffer: TextOp | undefined;
  /** Local edits in flight and in the buffer (a buffer composes several into one op). */
  private inflightEdits = 0;
  private bufferedEdits = 0;
  /** The server's text at `version`. */
  private committed: string;
  /** Whether `text` and `committed` may hold surrogate pairs (then ops convert code point offsets;
   * otherwise they apply as UTF-16 offsets, which is far cheaper on a large file). Once true, it
   * stays true until a reset. */
  private astral: boolean;
  private _text: string;
  /** Where the local text's lines start, once asked (comment and suggestion lines on every render):
   * kept with each op while the text is BMP-only, dropped otherwise. */
  private lines: LineStarts | undefined;
  /** The local text's lines are found by walking it (LineStarts.fits said no) until it is replaced. */
  private walkLines = false;

  constructor(
    readonly path: string,
    /** The text as this client sees it (server state plus pending local ops). */
    text: string,
    /** The last server version this client has applied. */
    public version: number,
  ) {
    this._text = text;
    this.committed = text;
    this.astral = hasSurrogate(text);
  }

  /** The text as this client sees it (server state plus pending local ops). */
  get text(): string {
    return this._text;
  }

  set text(text: string) {
    this._text = text;
    this.lines = undefined;
    this.walkLines = false;
    if (!this.astral) this.astral = hasSurrogate(text);
  }

  /** The 1-based line and column of code point offset `offset` in the local text (clamped). */
  positionOf(offset: number): { line: number; column: number } {
    const lines = this.astral || this.walkLines ? undefined : (this.lines ??= LineStarts.of(this._text));
    if (!lines) {
      this.walkLines = !this.astral;
      return positionOf(this._text, offset);
    }
    // As walking does: anything not above 0 (NaN too) is the start, a fraction rounds up.
    const index = offset > 0 ? Math.min(Math.ceil(offset), this._text.length) : 0;
    const line = lines.lineAt(index);
    return { line, column: index - lines.lineStart(line)! + 1 };
  }

  /** Applies `op` to the local text, keeping its line index. */
  private applyToText(op: TextOp): void {
    this._text = this.apply(this._text, op);
    if (!this.lines) return;
    if (!this.astral) this.lines.apply(op, this._text);
    if (this.astral || !LineStarts.fits(this.lines.lineCount, this._text.length)) {
      this.lines = undefined;
      this.walkLines = !this.astral;
    }
  }

  /** `op` applied to `doc`, and the astral flag updated for what it inserts. */
  private apply(doc: string, op: TextOp): string {
    const out = applyOp(doc, op, !this.astral);
    if (!this.astral && insertsAstral(op)) this.astral = true;
    return out;
  }

  /** True when every local op has been acknowledged. */
  get synced(): boolean {
    return !this.inflight && !this.buffer;
  }

  get pending(): PendingOp | undefined {
    return this.inflight;
  }

  /** The server's text at `version` (without this client's pending edits). */
  get serverText(): string {
    return this.committed;
  }

  /** Local edits not yet acknowledged by the server. */
  get unacknowledgedEdits(): number {
    return this.inflightEdits + this.bufferedEdits;
  }

  /** Local ops not yet acknowledged, in order (in flight, then buffered): they map a position on
   * the server's text to the same position on the local text. */
  get pendingOps(): TextOp[] {
    const ops: TextOp[] = [];
    if (this.inflight) ops.push(this.inflight.op);
    if (this.buffer) ops.push(this.buffer);
    return ops;
  }

  /** Applies a local edit. Returns the op to send now, if nothing was in flight. */
  applyLocal(op: TextOp, nextMessageId: () => string): PendingOp | undefined {
    // An op with no components changes nothing, and on the wire "no operations" means a seed line
    // edit: never send one.
    if (op.length === 0) return undefined;
    this.applyToText(op);
    if (this.inflight) {
      this.buffer = this.buffer ? composeOps(this.buffer, op) : op;
      this.bufferedEdits++;
      return undefined;
    }
    this.inflight = { op, baseVersion: this.version, clientMessageId: nextMessageId() };
    this.inflightEdits = 1;
    return this.inflight;
  }

  /** The server committed our in-flight op (`pending.op`, as it stands) as `version`. Returns the
   * buffered op to send next, if any. */
  acknowledge(version: number, nextMessageId: () => string): PendingOp | undefined {
    if (this.inflight) this.committed = this.apply(this.committed, this.inflight.op);
    this.inflight = undefined;
    this.inflightEdits = 0;
    this.version = version;
    return this.promoteBuffer(nextMessageId);
  }

  /** The server refused our in-flight op for good: undo it on the local text, keeping the edits
   * made after it (the buffer, transformed to apply without it). Returns how many local edits were
   * undone, the op that undid them on the local text, and the buffered op to send next, if any. */
  reject(nextMessageId: () => string): { undone: number; undo: TextOp; next?: PendingOp } {
    const refused = this.inflight;
    const undone = this.inflightEdits;
    this.inflight = undefined;
    this.inflightEdits = 0;
    if (!refused) return { undone: 0, undo: [] };
    // The refused op applies to the server's text: that text says what its deletes removed.
    let undo = invertOp(makeInvertible(refused.op, this.committed));
    if (this.buffer) {
      const buffered = this.buffer;
      this.buffer = transformOp(buffered, undo, 'left');
      undo = transformOp(undo, buffered, 'right');
    }
    this.applyToText(undo);
    return { undone, undo, next: this.promoteBuffer(nextMessageId) };
  }

  private promoteBuffer(nextMessageId: () => string): PendingOp | undefined {
    // A buffer that remote edits reduced to nothing (it deleted what they deleted) is dropped.
    if (!this.buffer || this.buffer.length === 0) {
      this.buffer = undefined;
      this.bufferedEdits = 0;
      return undefined;
    }
    this.inflight = { op: this.buffer, baseVersion: this.version, clientMessageId: nextMessageId() };
    this.inflightEdits = this.bufferedEdits;
    this.buffer = undefined;
    this.bufferedEdits = 0;
    return this.inflight;
  }

  /** A remote op committed as `version` (it applies to version - 1, which is ours). Returns the op
   * as applied to this client's text (transformed past pending local edits). */
  applyRemote(op: TextOp, version: number): TextOp {
    this.committed = this.apply(this.committed, op);
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
    this.applyToText(remote);
    this.version = version;
    return remote;
  }

  /** Replaces everything with a snapshot (after a resync): pending local ops are dropped. */
  reset(text: string, version: number): void {
    this._text = text;
    this.lines = undefined;
    this.walkLines = false;
    this.committed = text;
    this.astral = hasSurrogate(text);
    this.version = version;
    this.inflight = undefined;
    this.buffer = undefined;
    this.inflightEdits = 0;
    this.bufferedEdits = 0;
  }
}
