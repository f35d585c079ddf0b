// Which version of a file each recent sequence number made: what answering "the file as it was
// after event N" from memory needs (FileDocument keeps the recent versions' texts, but not which
// event made them). Kept for as many versions as the documents keep history; older questions are
// answered from the log (file-history.ts).
//
// Column by column, not an object per entry: one entry per edit is kept for up to twice the
// history's length, and objects that live that long are what every major collection has to mark
// (docs/benchmarks.md, "2026-12-03, afternoon").
import type { Undo } from './session-state.js';

/** One file's entries, oldest first, in parallel arrays. */
interface Entries {
  versions: number[];
  seqs: number[];
  /** This entry made the file (it did not exist before its seq). */
  created: boolean[];
}

export type VersionAt =
  /** The file's version right after the event. */
  | { kind: 'version'; version: number }
  /** The file did not exist yet. */
  | { kind: 'absent' }
  /** Older than this index knows. */
  | { kind: 'unknown' };

export class VersionIndex {
  private readonly byPath = new Map<string, Entries>();

  constructor(private readonly limit: number) {}

  clear(): void {
    this.byPath.clear();
  }

  /** Version `version` of `path` was made by event `seq` (`created`: the file came to be). */
  record(path: string, version: number, seq: number, created: boolean): Undo {
    let entries = this.byPath.get(path);
    if (!entries) this.byPath.set(path, (entries = { versions: [], seqs: [], created: [] }));
    entries.versions.push(version);
    entries.seqs.push(seq);
    entries.created.push(created);
    // Trimmed in amortized chunks; what is dropped is answered from the log.
    const excess = entries.seqs.length - this.limit;
    if (excess > this.limit) {
      entries.versions.splice(0, excess);
      entries.seqs.splice(0, excess);
      entries.created.splice(0, excess);
    }
    const list = entries;
    return () => {
      list.versions.pop();
      list.seqs.pop();
      list.created.pop();
      if (list.seqs.length === 0 && this.byPath.get(path) === list) this.byPath.delete(path);
    };
  }

  versionAt(path: string, seq: number): VersionAt {
    const entries = this.byPath.get(path);
    if (!entries || entries.seqs.length === 0) return { kind: 'unknown' };
    // The last entry made at or before seq.
    const { seqs } = entries;
    let lo = 0;
    let hi = seqs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid]! <= seq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found >= 0) return { kind: 'version', version: entries.versions[found]! };
    return entries.created[0] ? { kind: 'absent' } : { kind: 'unknown' };
  }
}
