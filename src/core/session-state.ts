// A session's durable state — files, comments, the last applied sequence number — and the one way
// it changes: applyChange. Replay from the store, commits of this instance and events committed by
// other instances all go through it, so a reloaded or replicated session is exactly the one that
// was running. Every change can be taken back (a commit that failed or lost an optimistic race is
// undone in reverse order) without reloading the session.
import { CommentBook } from './comments.js';
import { FileDocument } from './document.js';
import { LiveReviewError } from './errors.js';
import type { CommentView, DurableChange, FileView } from './model.js';
import type { SessionSnapshot } from './store.js';

/** Takes a change back. */
export type Undo = () => void;

/** Notified of every applied edit (the room moves cursors with it); returns how to take it back. */
export type EditListener = (doc: FileDocument, undoable: boolean) => Undo | undefined;

export class SessionState {
  readonly files = new Map<string, FileDocument>();
  comments = new CommentBook();
  /** Last sequence number applied (committed, or being committed by this instance). */
  head = 0;

  constructor(
    readonly sessionId: string,
    private readonly historyVersions: number,
  ) {}

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
  }

  /** A new empty file for a first edit (added to the session only when the edit is applied). */
  newDocument(path: string): FileDocument {
    return new FileDocument(path, '', 0, this.historyVersions);
  }

  /** Applies a change; returns how to take it back. `onEdit` sees every applied edit. */
  applyChange(change: DurableChange, onEdit?: EditListener): Undo {
    switch (change.kind) {
      case 'edit': {
        let doc = this.files.get(change.path);
        const created = !doc;
        if (!doc) {
          doc = this.newDocument(change.path);
          this.files.set(change.path, doc);
        }
        if (doc.version !== change.version - 1) {
          throw new LiveReviewError(
            'INTERNAL',
            `${change.path}: edit to version ${change.version} on version ${doc.version}`,
          );
        }
        doc.apply(change.op);
        const undoAnchors = this.comments.onEdit(change.path, change.op);
        const undoListener = onEdit?.(doc, true);
        const edited = doc;
        return () => {
          undoListener?.();
          undoAnchors();
          if (created) this.files.delete(change.path);
          else edited.revertLast();
        };
      }
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
        return () => {
          if (previous) this.files.set(change.path, previous);
          else this.files.delete(change.path);
        };
      }
    }
  }

  fileViews(): FileView[] {
    return [...this.files.values()].map((d) => ({ path: d.path, version: d.version, text: d.text }));
  }

  commentViews(includeResolved: boolean, path = ''): CommentView[] {
    const views: CommentView[] = [];
    for (const c of this.comments.all()) {
      if (path && c.path !== path) continue;
      if (!includeResolved && this.comments.root(c).state === 'resolved') continue;
      const doc = this.files.get(c.path);
      views.push(this.comments.view(c, doc?.text ?? '', doc?.version ?? 0));
    }
    return views;
  }

  snapshot(seq: number): SessionSnapshot {
    return {
      seq,
      files: this.fileViews(),
      comments: [...this.comments.all()].map((c) => ({ ...c })),
    };
  }
}
