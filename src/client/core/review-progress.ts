// The verdicts given in a session and the viewed marks, as this client has them (from snapshots
// and events). A mark counts while its file is at the mark's version: a change after it resets it,
// which the client sees as the file's version moving on.
import type { VerdictInfo, ViewedInfo } from './types.js';

export class ReviewProgress {
  private history: VerdictInfo[] = [];
  private readonly marks = new Map<string, Map<string, ViewedInfo>>();

  reset(verdicts: readonly VerdictInfo[], viewed: readonly ViewedInfo[]): void {
    this.history = [...verdicts].sort((a, b) => a.sequence - b.sequence);
    this.marks.clear();
    for (const m of viewed) this.setViewed(m);
  }

  addVerdict(v: VerdictInfo): void {
    this.history.push(v);
  }

  setViewed(m: ViewedInfo): void {
    let marks = this.marks.get(m.path);
    if (!marks) this.marks.set(m.path, (marks = new Map()));
    if (m.viewed) marks.set(m.userId, m);
    else marks.delete(m.userId);
  }

  /** Every verdict, in order. */
  verdictHistory(): VerdictInfo[] {
    return [...this.history];
  }

  /** Each reviewer's latest verdict, in reviewer order. */
  currentVerdicts(): VerdictInfo[] {
    const latest = new Map<string, VerdictInfo>();
    for (const v of this.history) latest.set(v.reviewer, v);
    return [...latest.values()].sort((a, b) =>
      a.reviewer < b.reviewer ? -1 : a.reviewer > b.reviewer ? 1 : 0,
    );
  }

  /** The marks on a file (each user's latest; compare its version with the file's). */
  marksOf(path: string): ViewedInfo[] {
    return [...(this.marks.get(path)?.values() ?? [])];
  }

  allMarks(): ViewedInfo[] {
    return [...this.marks.values()].flatMap((m) => [...m.values()]);
  }
}
