// The session as this client holds it: each file's OT state (DocumentState) and the comment
// threads with their anchors. It applies what the server says (snapshots, opened files, remote
// edits, acks of our edits and comments, refusals) and what the user does (local edits), and
// answers with plain values; it sends nothing and emits nothing itself.
import {
  CommentAction,
  CommentSide,
  CommentState,
  SuggestionStatus,
  type Comment as WireComment,
  type SnapshotChunk,
} from '../../gen/es/codereview/v1/codereview_pb.js';
import { anchorAtLine, moveAnchor } from '../../ot/anchors.js';
import { lineRange, lineText } from '../../ot/lines.js';
import { codePointLength, hasSurrogate, type TextOp } from '../../ot/text.js';
import { diffTexts, type DiffOptions, type DiffResult } from '../../review/diff.js';
import { decideSuggestion, moveSuggestionAnchor, type KnownText } from '../../review/suggestion.js';
import { summarizeReview } from '../../review/summary.js';
import { CommentThreads, type TrackedComment, type TrackedSuggestion } from './comment-threads.js';
import { DocumentState, type PendingOp } from './document-state.js';
import { ReviewProgress } from './review-progress.js';
import type {
  CommentInfo,
  FileBaseInfo,
  FileInfo,
  ReviewSummary,
  SuggestionInfo,
  VerdictInfo,
  ViewedInfo,
} from './types.js';
import { baseOf, int, verdictOf, viewedOf } from './wire.js';

export interface Resync {
  path: string;
  reason: string;
  droppedEdits: number;
}

export class Replica {
  private readonly docs = new Map<string, DocumentState>();
  /** Files the server has (opened, snapshotted, edited by anyone, or our edit acknowledged). */
  private readonly serverFiles = new Set<string>();
  private readonly threads = new CommentThreads();
  /** Each file's base (a file this client only knows from edits has an empty one). */
  private readonly bases = new Map<string, FileBaseInfo>();
  /** Verdicts and viewed marks. */
  readonly progress = new ReviewProgress();
  private snapshotParts = new Map<string, { version: number; text: string; base: FileBaseInfo }>();
  private snapshotComments: WireComment[] = [];
  private snapshotVerdicts: VerdictInfo[] = [];
  private readonly knownTexts = new WeakMap<DocumentState, { text: string; known: KnownText }>();
  private snapshotViewed: ViewedInfo[] = [];

  constructor(private readonly nextMessageId: () => string) {}

  /** The text of a line (1-based) of a file as the server has it ('' when there is none). */
  serverLine(path: string, line: number): string {
    return lineText(this.docs.get(path)?.serverText ?? '', line) ?? '';
  }

  file(path: string): FileInfo | undefined {
    const d = this.docs.get(path);
    return d && { ...fileInfo(d), base: this.baseOf(path) };
  }

  baseOf(path: string): FileBaseInfo {
    return this.bases.get(path) ?? { text: '' };
  }

  /** The diff of a file's base to this client's text of it (undefined: no such file). */
  diff(path: string, options?: DiffOptions): DiffResult | undefined {
    const d = this.docs.get(path);
    return d && diffTexts(this.baseOf(path).text, d.text, options);
  }

  /** Where the review stands, from what this client has: the server's files and versions, the
   * threads, the verdicts and the marks (the same computation as the server's summary). */
  summary(): ReviewSummary {
    const iso = (ms: number) => new Date(ms).toISOString();
    const files = [...this.docs.values()]
      .filter((d) => this.serverFiles.has(d.path))
      .map((d) => ({
        viewedBy: this.progress
          .marksOf(d.path)
          .filter((m) => m.version === d.version)
          .map((m) => ({ userId: m.userId, at: iso(m.at) })),
      }));
    const threads = [...this.threads.all()]
      .filter((c) => !c.parentId)
      .map((c) => ({
        state: c.state,
        outdated: c.anchor.outdated,
        ...(c.suggestion ? { suggestion: { status: this.suggestionInfo(c, c.suggestion).status } } : {}),
      }));
    const verdicts = this.progress.verdictHistory().map((v) => ({
      reviewer: v.reviewer,
      verdict: v.verdict,
      at: iso(v.at),
      ...(v.message ? { message: v.message } : {}),
    }));
    return summarizeReview({ files, threads, verdicts });
  }

  get paths(): string[] {
    return [...this.docs.keys()];
  }

  comments(): CommentInfo[] {
    return [...this.threads.all()].map((c) => this.commentInfo(c));
  }

  /** Local edits not yet acknowledged, over every file. */
  get unacknowledgedEdits(): number {
    let n = 0;
    for (const d of this.docs.values()) n += d.unacknowledgedEdits;
    return n;
  }

  /** Each file's edit in flight, to send again after a reconnect. */
  pendingEdits(): { path: string; pending: PendingOp }[] {
    return [...this.docs.values()].flatMap((d) => (d.pending ? [{ path: d.path, pending: d.pending }] : []));
  }

  /** The file whose edit in flight is `clientMessageId`. */
  pendingEdit(clientMessageId: string): DocumentState | undefined {
    for (const d of this.docs.values()) if (d.pending?.clientMessageId === clientMessageId) return d;
    return undefined;
  }

  /** The file's version a new comment's line refers to (0 while local edits are pending). */
  commentVersion(path: string): number {
    const d = this.docs.get(path);
    return d?.synced ? d.version : 0;
  }

  // ---- from the server -------------------------------------------------------------------------

  /** Adds a snapshot chunk; true when it was the last one (then call applySnapshot). */
  addSnapshotChunk(chunk: SnapshotChunk): boolean {
    for (const f of chunk.files) {
      const prev = f.continued ? this.snapshotParts.get(f.path) : undefined;
      const base = f.base ? baseOf(f.base) : { text: '' };
      this.snapshotParts.set(f.path, {
        version: f.version,
        text: (prev?.text ?? '') + f.text,
        base: prev ? { ...prev.base, text: prev.base.text + base.text } : base,
      });
    }
    this.snapshotComments.push(...chunk.comments);
    this.snapshotVerdicts.push(...chunk.verdicts.map((v) => verdictOf(v)));
    this.snapshotViewed.push(...chunk.viewed.map((m) => viewedOf(m)));
    return chunk.index + 1 === chunk.count;
  }

  /** The server's files and comments replace this client's; returns the files whose local text
   * changed or lost pending edits. */
  applySnapshot(): Resync[] {
    const resyncs: Resync[] = [];
    this.bases.clear();
    for (const [path, f] of this.snapshotParts) {
      this.serverFiles.add(path);
      this.bases.set(path, f.base);
      const doc = this.docs.get(path);
      if (!doc) {
        this.docs.set(path, new DocumentState(path, f.text, f.version));
        continue;
      }
      // A snapshot after a resync, or because the resume position was gone: the server's text
      // wins; local edits not yet acknowledged cannot be placed in it and are dropped (reported).
      const dropped = doc.unacknowledgedEdits;
      const changed = doc.text !== f.text;
      doc.reset(f.text, f.version);
      if (changed || dropped > 0) resyncs.push({ path, reason: 'snapshot', droppedEdits: dropped });
    }
    for (const [path, doc] of this.docs) {
      if (this.snapshotParts.has(path)) continue;
      // Not on the server: a file this client is creating (edits from version 0) is sent again;
      // anything else it believed in is gone.
      if (doc.version === 0 && !doc.synced && !this.serverFiles.has(path)) continue;
      this.docs.delete(path);
      this.serverFiles.delete(path);
      if (doc.text !== '' || doc.unacknowledgedEdits > 0)
        resyncs.push({ path, reason: 'snapshot', droppedEdits: doc.unacknowledgedEdits });
    }
    this.snapshotParts.clear();
    this.threads.clear();
    for (const c of this.snapshotComments.splice(0)) this.trackComment(c);
    this.progress.reset(this.snapshotVerdicts.splice(0), this.snapshotViewed.splice(0));
    return resyncs;
  }

  fileOpened(path: string, text: string, version: number, base: FileBaseInfo): void {
    this.serverFiles.add(path);
    this.bases.set(path, base);
    if (!this.docs.has(path)) this.docs.set(path, new DocumentState(path, text, version));
  }

  /** Someone else's committed edit; returns it as applied to this client's text. */
  remoteEdit(path: string, op: TextOp, version: number): TextOp {
    let doc = this.docs.get(path);
    if (!doc) {
      doc = new DocumentState(path, '', 0);
      this.docs.set(path, doc);
    }
    this.serverFiles.add(path);
    this.threads.onCommitted(path, op);
    return doc.applyRemote(op, version);
  }

  /** Our edit `clientMessageId` of `path` was committed as `version`; returns the edit to send
   * next, if local edits were buffered behind it. */
  acknowledgeEdit(path: string, clientMessageId: string, version: number): PendingOp | undefined {
    const doc = this.docs.get(path);
    if (!doc?.pending || doc.pending.clientMessageId !== clientMessageId) return undefined;
    this.serverFiles.add(path);
    this.threads.onCommitted(path, doc.pending.op);
    return doc.acknowledge(version, this.nextMessageId);
  }

  /** Our edit in flight on `doc` was refused for good: undo it. A file only this client had (its
   * creation was refused) is gone again (`file` undefined). */
  rejectEdit(doc: DocumentState): { undone: number; next?: PendingOp; file?: FileInfo } {
    const { undone, next } = doc.reject(this.nextMessageId);
    if (doc.synced && doc.version === 0 && !this.serverFiles.has(doc.path)) {
      this.docs.delete(doc.path);
      return { undone };
    }
    return { undone, next, file: fileInfo(doc) };
  }

  /** A comment from the server (an event or a snapshot); returns it as this client shows it. */
  trackComment(c: WireComment): CommentInfo {
    const known = this.threads.get(c.commentId);
    const applied =
      c.suggestion?.status === SuggestionStatus.APPLIED
        ? { by: c.suggestion.appliedBy, at: int(c.suggestion.appliedAt) }
        : undefined;
    if (known) {
      known.text = c.text;
      known.state = c.state === CommentState.RESOLVED ? 'resolved' : 'open';
      if (c.outdated && !known.anchor.outdated) {
        known.anchor = { start: known.anchor.start, end: known.anchor.start, outdated: true };
      }
      if (known.suggestion && applied) known.suggestion.applied = applied;
      return this.commentInfo(known);
    }
    const base = c.side === CommentSide.BASE;
    const s = c.suggestion;
    const record: TrackedComment = {
      id: c.commentId,
      path: c.filePath,
      parentId: c.parentId,
      authorId: c.authorId,
      text: c.text,
      state: c.state === CommentState.RESOLVED ? 'resolved' : 'open',
      originalLineText: c.originalLineText,
      // The line is at the file's current version: the server's text this client has.
      anchor: base
        ? { start: 0, end: 0, outdated: false }
        : anchorAtLine(this.docs.get(c.filePath)?.serverText ?? '', c.lineNumber, c.outdated),
      side: base ? 'base' : 'head',
      ...(base ? { fixedLine: c.lineNumber } : {}),
      ...(s && !c.parentId
        ? {
            suggestion: {
              startLine: s.startLine,
              endLine: s.endLine,
              replacement: s.replacement,
              originalText: s.originalText,
              // Its range is at the comment's version too.
              anchor: { start: s.rangeStart, end: s.rangeEnd },
              ...(applied ? { applied } : {}),
            },
          }
        : {}),
    };
    this.threads.add(record);
    return this.commentInfo(record);
  }

  /** Our own comment change was committed (it comes back as an ack, not as a comment event). */
  applyOwnComment(
    sent: WireComment,
    ack: { filePath: string; commentId?: string; lineNumber?: number },
    authorId: string,
  ): void {
    const id = ack.commentId || sent.commentId;
    const known = this.threads.get(id);
    if (sent.action === CommentAction.CREATE || sent.action === CommentAction.REPLY) {
      const parent = sent.parentId ? this.threads.get(sent.parentId) : undefined;
      const root = parent && this.threads.root(parent);
      const path = ack.filePath || root?.path || sent.filePath;
      const text = this.docs.get(path)?.serverText ?? '';
      const line = ack.lineNumber || sent.lineNumber;
      const onBase = !root && sent.side === CommentSide.BASE;
      this.threads.add({
        id,
        path,
        parentId: root?.id ?? '',
        authorId,
        text: sent.text,
        state: 'open',
        originalLineText:
          root?.originalLineText ?? lineRange(onBase ? this.baseOf(path).text : text, line)?.text ?? '',
        anchor: root
          ? root.anchor
          : onBase
            ? { start: 0, end: 0, outdated: false }
            : anchorAtLine(text, line),
        side: root?.side ?? (onBase ? 'base' : 'head'),
        ...(onBase ? { fixedLine: sent.lineNumber } : {}),
      });
    } else if (known) {
      const target = sent.action === CommentAction.EDIT ? known : this.threads.root(known);
      if (sent.action === CommentAction.EDIT) target.text = sent.text;
      if (sent.action === CommentAction.RESOLVE) target.state = 'resolved';
      if (sent.action === CommentAction.REOPEN) target.state = 'open';
    }
  }

  private commentInfo(c: TrackedComment): CommentInfo {
    const root = this.threads.root(c);
    const doc = this.docs.get(root.path);
    // The anchor is on the server's text; this client shows it on its own (pending edits applied).
    const local = (doc?.pendingOps ?? []).reduce(moveAnchor, root.anchor);
    const suggestion = c === root && root.suggestion ? this.suggestionInfo(root, root.suggestion) : undefined;
    return {
      id: c.id,
      path: c.path,
      line: root.side === 'base' ? (root.fixedLine ?? 0) : (doc?.positionOf(local.start).line ?? 1),
      text: c.text,
      authorId: c.authorId,
      parentId: c.parentId,
      state: c.state,
      outdated: root.anchor.outdated,
      originalLineText: c.originalLineText,
      side: root.side,
      ...(suggestion ? { suggestion } : {}),
    };
  }

  /** What deciding suggestions needs of a file's server text, measured once per version (not once
   * per suggestion: a summary decides them all at every event). */
  private known(doc: DocumentState): KnownText {
    const cached = this.knownTexts.get(doc);
    if (cached?.text === doc.serverText) return cached.known;
    const known = { codePoints: codePointLength(doc.serverText), bmpOnly: !hasSurrogate(doc.serverText) };
    this.knownTexts.set(doc, { text: doc.serverText, known });
    return known;
  }

  /** A suggestion's status, decided on the server's text as the server decides it, and where its
   * lines are in this client's text. */
  private suggestionInfo(root: TrackedComment, s: TrackedSuggestion): SuggestionInfo {
    const info = {
      startLine: s.startLine,
      endLine: s.endLine,
      replacement: s.replacement,
      originalText: s.originalText,
    };
    if (s.applied) return { ...info, status: 'applied', appliedBy: s.applied.by, appliedAt: s.applied.at };
    const doc = this.docs.get(root.path);
    if (!doc) return { ...info, status: 'conflicting', conflict: 'anchor_invalid' };
    const decision = decideSuggestion({
      text: doc.serverText,
      anchor: s.anchor,
      ...info,
      known: this.known(doc),
    });
    if (decision.status === 'conflicting')
      return { ...info, status: 'conflicting', conflict: decision.reason };
    const local = doc.pendingOps.reduce(moveSuggestionAnchor, s.anchor);
    const start = doc.positionOf(local.start).line;
    const end = local.end > local.start ? doc.positionOf(local.end - 1).line : start;
    return { ...info, status: 'pending', lines: { start, end } };
  }

  // ---- from the user ---------------------------------------------------------------------------

  /** Applies a local edit; returns the edit to send now, if none was in flight. */
  localEdit(path: string, op: TextOp): PendingOp | undefined {
    let doc = this.docs.get(path);
    if (!doc) {
      doc = new DocumentState(path, '', 0);
      this.docs.set(path, doc);
    }
    return doc.applyLocal(op, this.nextMessageId);
  }
}

function fileInfo(d: DocumentState): FileInfo {
  return { path: d.path, version: d.version, text: d.text };
}
