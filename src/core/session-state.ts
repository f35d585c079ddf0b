// A session's durable state — files, comments, the last applied sequence number — and the one way
// it changes: applyChange. Replay from the store, commits of this instance and events committed by
// other instances all go through it, so a reloaded or replicated session is exactly the one that
// was running. Every change can be taken back (a commit that failed or lost an optimistic race is
// undone in reverse order) without reloading the session.
import { CommentBook } from './comments.js';
import { FileDocument } from './document.js';
import { LiveReviewError } from './errors.js';
import type { CommentView, DurableChange, FileView } from './model.js';
import { markApplied, suggestionStatusOf } from './review-commands.js';
import { ReviewState } from './review-state.js';
import type { SessionSnapshot } from './store.js';
import type { TextOp } from '../ot/text.js';
import { VersionIndex } from './version-index.js';

/** Takes a change back. */
export type Undo = () => void;

/** Notified of every applied edit (the room moves cursors with it); returns how to take it back. */
export type EditListener = (doc: FileDocument, undoable: boolean) => Undo | undefined;

export class SessionState {
  readonly files = new Map<string, FileDocument>();
  comments = new CommentBook();
  /** Bases, verdicts, viewed marks. */
  readonly review = new ReviewState();
  /** Which event made each recent version of each file (GetFileAt). */
  readonly versions: VersionIndex;
  /** Last sequence number applied (committed, or being committed by this instance). */
  head = 0;

  constructor(
    readonly sessionId: string,
    private readonly historyVersions: number,
  ) {
    this.versions = new VersionIndex(historyVersions);
  }

  get isEmpty(): boolean {
    return this.head === 0 && this.files.size === 0;
  }

  /** Replaces everything with a stored snapshot. */
  reset(snapshot: SessionSnapshot | undefined): void {
    this.files.clear();
    this.comments = new CommentBook();
    this.head = snapshot?.seq ?? 0;
    for (const f of snapshot?.files ?? []) {
      this.files.set(f.path, new FileDocument(f.path, f.text, f.version, this.historyVersions));
    }
    for (const c of snapshot?.comments ?? []) this.comments.add({ ...c });
    this.review.reset(snapshot?.files ?? [], snapshot?.review);
    this.versions.clear();
  }

  /** A new empty file for a first edit (added to the session only when the edit is applied). */
  newDocument(path: string): FileDocument {
    return new FileDocument(path, '', 0, this.historyVersions);
  }

  /**
   * Applies a change; returns how to take it back. `onEdit` sees every applied edit. The change
   * becomes event `head + 1`: the pipeline and the replay path both apply an event before they
   * move `head` to it.
   */
  applyChange(change: DurableChange, onEdit?: EditListener): Undo {
    const seq = this.head + 1;
    switch (change.kind) {
      case 'edit':
        return this.applyEdit(change.path, change.version, change.op, seq, onEdit);
      case 'suggestion_applied': {
        const undoEdit = this.applyEdit(change.path, change.version, change.op, seq, onEdit);
        const undoMark = markApplied(this.comments, change, seq);
        return () => {
          undoMark();
          undoEdit();
        };
      }
      case 'verdict':
      case 'viewed':
        return this.review.apply(change, seq);
      case 'comment': {
        const c = change.comment;
        if (change.action === 'create' || change.action === 'reply') {
          this.comments.add({ ...c });
          return () => this.comments.remove(c.id);
        }
        const existing = this.comments.get(c.id);
        const { text, state, updatedAt } = existing;
        this.comments.retext(existing, c.text);
        existing.state = c.state;
        existing.updatedAt = c.updatedAt;
        return () => {
          this.comments.retext(existing, text);
          Object.assign(existing, { state, updatedAt });
        };
      }
      case 'file_opened': {
        const previous = this.files.get(change.path);
        this.files.set(
          change.path,
          new FileDocument(change.path, change.text, change.version, this.historyVersions),
        );
        const undoBase = this.review.setBase(change.path, change.base ?? { text: change.text });
        const undoVersion = this.versions.record(change.path, change.version, seq, true);
        return () => {
          undoVersion();
          undoBase();
          if (previous) this.files.set(change.path, previous);
          else this.files.delete(change.path);
        };
      }
    }
  }

  /** An edit of a file (creating it from empty when it does not exist), moving every anchor. */
  private applyEdit(path: string, version: number, op: TextOp, seq: number, onEdit?: EditListener): Undo {
    let doc = this.files.get(path);
    const created = !doc;
    if (!doc) {
      doc = this.newDocument(path);
      this.files.set(path, doc);
    }
    if (doc.version !== version - 1) {
      throw new LiveReviewError('INTERNAL', `${path}: edit to version ${version} on version ${doc.version}`);
    }
    doc.apply(op);
    const undoAnchors = this.comments.onEdit(path, op);
    const undoListener = onEdit?.(doc, true);
    const undoVersion = this.versions.record(path, version, seq, created);
    const edited = doc;
    return () => {
      undoVersion();
      undoListener?.();
      undoAnchors();
      if (created) this.files.delete(path);
      else edited.revertLast();
    };
  }

  fileViews(): FileView[] {
    return [...this.files.values()].map((d) => ({
      path: d.path,
      version: d.version,
      text: d.text,
      base: this.review.baseOf(d.path),
    }));
  }

  commentViews(includeResolved: boolean, path = ''): CommentView[] {
    const views: CommentView[] = [];
    for (const c of this.comments.all()) {
      if (path && c.path !== path) continue;
      if (!includeResolved && this.comments.root(c).state === 'resolved') continue;
      const doc = this.files.get(c.path);
      const view: CommentView = this.comments.view(c, doc);
      const status = suggestionStatusOf(c, doc);
      views.push(status ? { ...view, suggestionStatus: status } : view);
    }
    return views;
  }

  snapshot(seq: number): SessionSnapshot {
    return {
      seq,
      files: this.fileViews(),
      comments: [...this.comments.all()].map((c) => ({ ...c })),
      review: this.review.snapshot(),
    };
  }
}
