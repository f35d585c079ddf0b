// What a session knows about the review beyond files and comments: each file's base, the verdicts
// given, and the viewed marks. Changed only through SessionState.applyChange (the one replay
// path), each change with its undo.
//
// A viewed mark records the file version it was made at and counts while the file is still at
// that version: a change of the file after the mark resets it, with nothing to store or undo.
import type { Undo } from './session-state.js';
import { frozenCopy } from './frozen.js';
import type { FileBase, FileView, ReviewChange, VerdictView, ViewedView } from './model.js';

/** The review part of a stored snapshot. */
export interface ReviewSnapshot {
  verdicts: VerdictView[];
  viewed: ViewedView[];
}

const ADDED: FileBase = Object.freeze({ text: '' });

export class ReviewState {
  private readonly bases = new Map<string, FileBase>();
  /** Every verdict given, in sequence order. */
  private verdicts: VerdictView[] = [];
  /** Marks per file, per user (unmarking removes the mark). */
  private readonly viewed = new Map<string, Map<string, ViewedView>>();

  get verdictCount(): number {
    return this.verdicts.length;
  }

  /** Replaces everything with a stored snapshot's. A file stored before bases existed has none
   * known: it shows as added. */
  reset(files: readonly FileView[], snapshot: ReviewSnapshot | undefined): void {
    this.bases.clear();
    this.viewed.clear();
    for (const f of files) if (f.base) this.bases.set(f.path, f.base);
    this.verdicts = (snapshot?.verdicts ?? []).map((v) => ({ ...v }));
    for (const m of snapshot?.viewed ?? []) this.marksOf(m.path).set(m.userId, { ...m });
  }

  /** A file's base: the one it was opened with, or empty (a file created by its first edit). */
  baseOf(path: string): FileBase {
    return this.bases.get(path) ?? ADDED;
  }

  /** Records the base of a file being opened. */
  setBase(path: string, base: FileBase): Undo {
    const previous = this.bases.get(path);
    this.bases.set(path, frozenCopy(base));
    return () => {
      if (previous) this.bases.set(path, previous);
      else this.bases.delete(path);
    };
  }

  /** Applies a verdict or a viewed mark committed as sequence `seq`. */
  apply(change: Extract<ReviewChange, { kind: 'verdict' | 'viewed' }>, seq: number): Undo {
    if (change.kind === 'verdict') {
      this.verdicts.push({
        reviewer: change.reviewer,
        verdict: change.verdict,
        message: change.message,
        at: change.at,
        seq,
      });
      return () => void this.verdicts.pop();
    }
    const marks = this.marksOf(change.path);
    const previous = marks.get(change.userId);
    if (change.viewed) {
      marks.set(change.userId, {
        path: change.path,
        userId: change.userId,
        version: change.version,
        at: change.at,
        seq,
      });
    } else {
      marks.delete(change.userId);
    }
    return () => {
      if (previous) marks.set(change.userId, previous);
      else marks.delete(change.userId);
    };
  }

  verdictViews(): VerdictView[] {
    return this.verdicts.map((v) => ({ ...v }));
  }

  /** Every mark, current or reset (compare its version with the file's). */
  viewedViews(): ViewedView[] {
    const out: ViewedView[] = [];
    for (const marks of this.viewed.values()) for (const m of marks.values()) out.push({ ...m });
    return out;
  }

  snapshot(): ReviewSnapshot {
    return { verdicts: this.verdictViews(), viewed: this.viewedViews() };
  }

  private marksOf(path: string): Map<string, ViewedView> {
    let marks = this.viewed.get(path);
    if (!marks) this.viewed.set(path, (marks = new Map()));
    return marks;
  }
}
