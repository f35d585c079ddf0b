// The comments this client knows, by id, with the line anchor of each thread root. Anchors are on
// the server's text and move only with committed ops (src/ot/anchors.ts, the same rules as the
// server's), so "outdated" is decided exactly as the server decides it; a client shows them on its
// local text by mapping them through its pending edits.
import { moveAnchor, type LineAnchor } from '../../ot/anchors.js';
import type { TextOp } from '../../ot/text.js';
import { moveSuggestionAnchor, type SuggestionAnchor } from '../../review/suggestion.js';

export interface TrackedComment {
  id: string;
  path: string;
  /** Thread root id for replies, '' for a root. Replies share the root's anchor. */
  parentId: string;
  authorId: string;
  text: string;
  state: 'open' | 'resolved';
  originalLineText: string;
  /** Roots only. */
  anchor: LineAnchor;
  /** 'base': a root on line `fixedLine` of the file's base (its anchor is not used). */
  side: 'head' | 'base';
  fixedLine?: number;
  /** A root's suggested change. */
  suggestion?: TrackedSuggestion;
}

/** A suggestion and where its lines are in the server's text (moved like anchors, until applied). */
export interface TrackedSuggestion {
  startLine: number;
  endLine: number;
  replacement: string;
  originalText: string;
  anchor: SuggestionAnchor;
  applied?: { by: string; at: number };
}

export class CommentThreads {
  private readonly byId = new Map<string, TrackedComment>();
  /** Thread roots per file, for moving anchors. */
  private readonly rootsByPath = new Map<string, TrackedComment[]>();

  get(id: string): TrackedComment | undefined {
    return this.byId.get(id);
  }

  /** The thread root of a comment (itself for a root). */
  root(c: TrackedComment): TrackedComment {
    return (c.parentId && this.byId.get(c.parentId)) || c;
  }

  add(c: TrackedComment): void {
    this.byId.set(c.id, c);
    if (c.parentId) return;
    const roots = this.rootsByPath.get(c.path);
    if (roots) roots.push(c);
    else this.rootsByPath.set(c.path, [c]);
  }

  clear(): void {
    this.byId.clear();
    this.rootsByPath.clear();
  }

  all(): IterableIterator<TrackedComment> {
    return this.byId.values();
  }

  /** Moves the anchors of `path`, and the lines of its suggestions not applied yet, through an op
   * the server committed. */
  onCommitted(path: string, op: TextOp): void {
    for (const c of this.rootsByPath.get(path) ?? []) {
      c.anchor = moveAnchor(c.anchor, op);
      const s = c.suggestion;
      if (s && !s.applied) s.anchor = moveSuggestionAnchor(s.anchor, op);
    }
  }
}
