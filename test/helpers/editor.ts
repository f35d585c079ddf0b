// A scripted editor over a real session stream: client-side OT state for the files it sees,
// assembling snapshots, transforming remote edits, one op in flight per file. Incoming messages
// can be processed with delays, so its base versions go stale as a slow client's would.
import type {
  CodeReviewServiceClient,
  Comment,
  SessionMessage,
} from '../../src/gen/codereview/v1/codereview.js';
import { CommentBook } from '../../src/core/comments.js';
import { lineRange, positionOf } from '../../src/ot/lines.js';
import { SessionMessage as SM } from '../../src/gen/codereview/v1/codereview.js';
import { DocumentState, type PendingOp } from '../../src/client/core/document-state.js';
import { fromWireOps, toWireOps } from './wire-ops.js';
import type { TextOp } from '../../src/ot/text.js';
import { Collector, joinSession } from './clients.js';

export { toWireOps, fromWireOps };

export class TestEditor {
  readonly docs = new Map<string, DocumentState>();
  call;
  got: Collector<SessionMessage>;
  /** Comment anchors as this client tracks them (same rules as the server's, on its own text). */
  readonly comments = new CommentBook();
  lastSeq = 0;
  ready: Promise<void>;
  private markReady!: () => void;
  private snapshotComments: Comment[] = [];
  private snapshotParts = new Map<string, { version: number; text: string }>();
  private inbox: SessionMessage[] = [];
  private processing = false;
  private messageIds = 0;
  readonly errors: SessionMessage[] = [];
  /** client message id -> sequence number, for every durable message acknowledged. */
  readonly acked = new Map<string, number>();

  constructor(
    client: CodeReviewServiceClient,
    readonly sessionId: string,
    readonly userId: string,
    readonly clientId: string,
    private readonly processDelay: () => number = () => 0,
    resumeAfter?: number,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    const joined = joinSession(client, sessionId, userId, { clientId, resumeAfter });
    this.call = joined.call;
    this.got = joined.got;
    this.listen();
  }

  private listen(): void {
    const call = this.call;
    call.on('data', (m: SessionMessage) => {
      if (call !== this.call) return;
      this.inbox.push(m);
      void this.pump();
    });
  }

  /** Drops the stream (as a network failure would). */
  drop(): void {
    this.call.cancel();
  }

  /** Joins again on a new stream, resuming after the last sequence number seen; keeps its files. */
  reconnect(client: CodeReviewServiceClient): Promise<void> {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    const joined = joinSession(client, this.sessionId, this.userId, {
      clientId: this.clientId,
      resumeAfter: this.lastSeq,
    });
    this.call = joined.call;
    this.got = joined.got;
    this.listen();
    return this.ready;
  }

  /** Sends again, on the current stream, what is in flight (same client message id). */
  resendPending(): void {
    for (const doc of this.docs.values()) if (doc.pending) this.send(doc.path, doc.pending);
  }

  /** Sends a raw message (comments and anything else). */
  write(m: object): void {
    this.call.write(SM.fromPartial(m as Parameters<typeof SM.fromPartial>[0]));
  }

  /** Records a comment this client made (once acknowledged), as an SDK would. */
  track(c: Comment): void {
    this.trackComment(c);
  }

  private async pump(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    while (this.inbox.length > 0) {
      const delay = this.processDelay();
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      this.handle(this.inbox.shift()!);
    }
    this.processing = false;
  }

  private nextId = () => `${this.clientId}-${++this.messageIds}`;

  private handle(m: SessionMessage): void {
    if (m.sequence > 0) this.lastSeq = Math.max(this.lastSeq, m.sequence);
    const p = m.payload;
    switch (p?.$case) {
      case 'welcome':
        if (p.value.sync === 2) this.markReady(); // resumed: events follow
        if (p.value.headSequence === 0 && p.value.sync === 1) this.lastSeq = 0;
        return;
      case 'snapshot': {
        this.snapshotComments.push(...p.value.comments);
        for (const f of p.value.files) {
          const prev = this.snapshotParts.get(f.path);
          this.snapshotParts.set(f.path, {
            version: f.version,
            text: (f.continued && prev ? prev.text : '') + f.text,
          });
        }
        if (p.value.index + 1 === p.value.count) {
          for (const [path, f] of this.snapshotParts)
            this.docs.set(path, new DocumentState(path, f.text, f.version));
          this.snapshotParts.clear();
          for (const c of this.snapshotComments.splice(0)) this.trackComment(c);
          this.lastSeq = p.value.sequence;
          this.markReady();
        }
        return;
      }
      case 'fileOpened':
        this.docs.set(p.value.path, new DocumentState(p.value.path, p.value.text, p.value.version));
        return;
      case 'edit': {
        const doc = this.docs.get(p.value.filePath) ?? new DocumentState(p.value.filePath, '', 0);
        this.docs.set(p.value.filePath, doc);
        const op = fromWireOps(p.value.operations);
        doc.applyRemote(op, p.value.version);
        // Anchors move with the op as applied here (this client's edits are sequential in tests).
        this.comments.onEdit(p.value.filePath, op);
        return;
      }
      case 'comment':
        this.trackComment(p.value);
        return;
      case 'ack': {
        this.lastSeq = Math.max(this.lastSeq, p.value.sequence);
        if (p.value.sequence > 0) this.acked.set(p.value.clientMessageId, p.value.sequence);
        const doc = this.docs.get(p.value.filePath);
        if (doc && doc.pending?.clientMessageId === p.value.clientMessageId) {
          const next = doc.acknowledge(p.value.version, this.nextId);
          if (next) this.send(doc.path, next);
        }
        return;
      }
      case 'error':
        this.errors.push(m);
        return;
      default:
        return;
    }
  }

  /** Records a comment from the wire; its anchor is its line in this client's current text. */
  private trackComment(c: Comment): void {
    const doc = this.docs.get(c.filePath);
    const known = this.comments.has(c.commentId) ? this.comments.get(c.commentId) : undefined;
    if (known) {
      known.text = c.text;
      known.state = c.state === 2 ? 'resolved' : 'open';
      return;
    }
    const range = doc && lineRange(doc.text, c.lineNumber);
    this.comments.add({
      id: c.commentId,
      path: c.filePath,
      parentId: c.parentId,
      authorId: c.authorId,
      text: c.text,
      state: c.state === 2 ? 'resolved' : 'open',
      outdated: c.outdated,
      anchorStart: range?.start ?? 0,
      anchorEnd: c.outdated ? (range?.start ?? 0) : (range?.end ?? 0),
      originalLineText: c.originalLineText,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
    });
  }

  /** This client's view of a comment: line and outdated flag. */
  commentLine(id: string): { line: number; outdated: boolean } {
    const c = this.comments.get(id);
    const doc = this.docs.get(c.path)!;
    const v = this.comments.view(c, {
      version: doc.version,
      positionOf: (offset) => positionOf(doc.text, offset),
    });
    return { line: v.line, outdated: v.outdated };
  }

  edit(path: string, makeOp: (text: string) => TextOp | undefined): void {
    const doc = this.docs.get(path);
    if (!doc) throw new Error(`${this.clientId} has no ${path}`);
    const op = makeOp(doc.text);
    if (!op || op.length === 0) return;
    this.comments.onEdit(path, op);
    const toSend = doc.applyLocal(op, this.nextId);
    if (toSend) this.send(path, toSend);
  }

  private send(path: string, p: PendingOp): void {
    this.call.write(
      SM.fromPartial({
        clientMessageId: p.clientMessageId,
        payload: {
          $case: 'edit',
          value: { filePath: path, version: p.baseVersion, operations: toWireOps(p.op) },
        },
      }),
    );
  }

  /** Resolves once every local op is acknowledged and the file is at `version`. */
  async settled(path: string, version: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const doc = this.docs.get(path);
      if (doc && doc.synced && doc.version === version && this.inbox.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.clientId} did not settle: version ${doc?.version} of ${version}, synced=${doc?.synced}, errors=${this.errors.length}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  text(path: string): string {
    return this.docs.get(path)!.text;
  }

  close(): void {
    this.call.end();
  }
}
