// Which version of a file each recent sequence number made: what answering "the file as it was
// after event N" from memory needs (FileDocument keeps the recent versions' texts, but not which
// event made them). Kept for as many versions as the documents keep history; older questions are
// answered from the log (file-history.ts).
import type { Undo } from './session-state.js';

interface Entry {
  version: number;
  seq: number;
  /** This entry made the file (it did not exist before `seq`). */
  created: boolean;
}

export type VersionAt =
  /** The file's version right after the event. */
  | { kind: 'version'; version: number }
  /** The file did not exist yet. */
  | { kind: 'absent' }
  /** Older than this index knows. */
  | { kind: 'unknown' };

export class VersionIndex {
  private readonly byPath = new Map<string, Entry[]>();

  constructor(private readonly limit: number) {}

  clear(): void {
    this.byPath.clear();
  }

  /** Version `version` of `path` was made by event `seq` (`created`: the file came to be). */
  record(path: string, version: number, seq: number, created: boolean): Undo {
    let entries = this.byPath.get(path);
    if (!entries) this.byPath.set(path, (entries = []));
    entries.push({ version, seq, created });
    // Trimmed in amortized chunks; what is dropped is answered from the log.
    if (entries.length > this.limit * 2) entries.splice(0, entries.length - this.limit);
    const list = entries;
    return () => {
      list.pop();
      if (list.length === 0 && this.byPath.get(path) === list) this.byPath.delete(path);
    };
  }

  versionAt(path: string, seq: number): VersionAt {
    const entries = this.byPath.get(path);
    if (!entries || entries.length === 0) return { kind: 'unknown' };
    // The last entry made at or before seq.
    let lo = 0;
    let hi = entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid]!.seq <= seq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found >= 0) return { kind: 'version', version: entries[found]!.version };
    return entries[0]!.created ? { kind: 'absent' } : { kind: 'unknown' };
  }
}
