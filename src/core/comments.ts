// Comments of a session and their anchors. A root comment is anchored to a line: the code point
// range [start, end) of the line including its terminator. Every committed edit moves the range:
// text inserted at its start pushes it down, text inserted at its end does not belong to it. When
// every code point of the range has been deleted the line is gone: the comment is marked outdated
// (it keeps its original line text and is never moved onto other code). Editing the line's content
// keeps the comment on it. Replies share their root's anchor.
import { LiveReviewError } from './errors.js';
import type { CommentRecord, CommentView } from './model.js';
import { transformPosition, type TextOp } from '../ot/text.js';

const noop = () => undefined;

/** What a comment's view needs of its file (a FileDocument): the file's version and the line of an
 * offset in its current text. */
export interface FileLines {
  readonly version: number;
  positionOf(offset: number): { line: number };
}

export class CommentBook {
  private readonly byId = new Map<string, CommentRecord>();
  /** Root comments per file, for moving anchors. */
  private readonly rootsByPath = new Map<string, CommentRecord[]>();

  /** Characters of all comment texts (a session's comment volume is bounded by it). */
  textChars = 0;

  get size(): number {
    return this.byId.size;
  }

  /** Changes a comment's text, keeping the volume count. */
  retext(record: CommentRecord, text: string): void {
    this.textChars += text.length - record.text.length;
    record.text = text;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): CommentRecord {
    const c = this.byId.get(id);
    if (!c)
      throw new LiveReviewError('COMMENT_NOT_FOUND', `no comment ${JSON.stringify(id)} in this session`);
    return c;
  }

  /** The thread root of a comment (itself for a root). */
  root(c: CommentRecord): CommentRecord {
    return c.parentId ? (this.byId.get(c.parentId) ?? c) : c;
  }

  add(record: CommentRecord): void {
    this.byId.set(record.id, record);
    this.textChars += record.text.length;
    if (!record.parentId) {
      const list = this.rootsByPath.get(record.path);
      if (list) list.push(record);
      else this.rootsByPath.set(record.path, [record]);
    }
  }

  /** Removes a comment (a create taken back because its commit failed). */
  remove(id: string): void {
    const c = this.byId.get(id);
    if (!c) return;
    this.byId.delete(id);
    this.textChars -= c.text.length;
    if (!c.parentId) {
      const list = this.rootsByPath.get(c.path);
      const i = list?.lastIndexOf(c) ?? -1;
      if (i >= 0) list!.splice(i, 1);
      if (list?.length === 0) this.rootsByPath.delete(c.path);
    }
  }

  clear(): void {
    this.byId.clear();
    this.rootsByPath.clear();
  }

  all(): IterableIterator<CommentRecord> {
    return this.byId.values();
  }

  /** Moves every anchor of `path` through a committed op, and the lines of the suggestions not
   * applied yet (by the same rule). Returns how to take the move back. */
  onEdit(path: string, op: TextOp): () => void {
    const roots = this.rootsByPath.get(path);
    if (!roots) return noop;
    const before = roots.map(
      (c) => [c.anchorStart, c.anchorEnd, c.outdated, c.suggestionStart, c.suggestionEnd] as const,
    );
    for (const c of roots) {
      const wasEmpty = c.anchorStart >= c.anchorEnd;
      c.anchorStart = transformPosition(c.anchorStart, op, true);
      c.anchorEnd = Math.max(c.anchorStart, transformPosition(c.anchorEnd, op, false));
      if (!c.outdated && !wasEmpty && c.anchorStart >= c.anchorEnd) c.outdated = true;
      if (c.suggestionStart !== undefined && c.suggestionEnd !== undefined && c.appliedSeq === undefined) {
        // moveSuggestionAnchor's rule, in place (no allocation per suggestion per keystroke).
        c.suggestionStart = transformPosition(c.suggestionStart, op, true);
        c.suggestionEnd = Math.max(c.suggestionStart, transformPosition(c.suggestionEnd, op, false));
      }
    }
    return () =>
      roots.forEach((c, i) => {
        [c.anchorStart, c.anchorEnd, c.outdated, c.suggestionStart, c.suggestionEnd] = before[i]!;
      });
  }

  /** A comment as clients see it, its line computed against the file's current text (a comment on
   * the review as a whole keeps the line it was given). */
  view(c: CommentRecord, file: FileLines | undefined): CommentView {
    const anchor = this.root(c);
    const line = anchor.fixedLine ?? file?.positionOf(anchor.anchorStart).line ?? 1;
    return { ...c, outdated: anchor.outdated, line, version: file?.version ?? 0 };
  }
}
