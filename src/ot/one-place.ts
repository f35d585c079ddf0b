// Transforms between edits made at one place, as arithmetic on positions and lengths.
//
// Nearly every op a live session carries is a keystroke: one insert or one delete at one place. The
// OT library's transform is general: it walks both ops component by component and builds a new op
// at every step (0.26–0.45 µs per step on this project's machines). The server transforms an edit
// made against an older version through every op committed since, so an edit from a client L versions
// behind costs L steps — work that grows with the lag, while the lag grows with the work. Between two
// one-place edits the step is a comparison and an addition; this does those and hands any other shape
// to the library, step by step. test/one-place.property.test.ts checks it against the library.
import { codePointLength, transformOp, type TextOp } from './text.js';

/** An op that inserts `insert`, or deletes `deleted` code points, at code point offset `at`. A
 * delete that shrank to nothing is a no-op (`deleted` 0 and no insert). */
interface OnePlaceEdit {
  at: number;
  insert: string | undefined;
  /** Code points of `insert`. */
  inserted: number;
  deleted: number;
}

/** Reads `op` into `into` when it is a one-place edit; false for any other shape. Deletes given by
 * their text (an invertible op) count their code points; `countOnly` refuses them, for an op whose
 * form must come back unchanged. */
function readOnePlace(op: TextOp, countOnly: boolean, into: OnePlaceEdit): boolean {
  const first = op[0];
  const i = typeof first === 'number' ? 1 : 0;
  if (op.length !== i + 1) return false;
  const c = op[i]!;
  into.at = i === 1 ? (first as number) : 0;
  if (typeof c === 'string') {
    into.insert = c;
    into.inserted = c.length === 1 ? 1 : codePointLength(c);
    into.deleted = 0;
    return true;
  }
  if (typeof c !== 'object' || (countOnly && typeof c.d !== 'number')) return false;
  into.insert = undefined;
  into.inserted = 0;
  into.deleted = typeof c.d === 'number' ? c.d : codePointLength(c.d);
  return true;
}

const blank = (): OnePlaceEdit => ({ at: 0, insert: undefined, inserted: 0, deleted: 0 });
/** The history op of the current step: read into one object, not one per step. */
const theirs = blank();

/** Moves `edit` past `against`, in place, as ot-text-unicode's transform would (ties between
 * inserts at one position: 'left' keeps `edit`'s first). False when the result is not a one-place
 * edit (a delete that `against` inserts into the middle of): the library takes that step. */
function moveOnePlace(edit: OnePlaceEdit, against: OnePlaceEdit, side: 'left' | 'right'): boolean {
  const at = against.at;
  if (edit.insert !== undefined) {
    if (against.inserted > 0) {
      if (at < edit.at || (at === edit.at && side === 'right')) edit.at += against.inserted;
    } else if (edit.at >= at + against.deleted) edit.at -= against.deleted;
    else if (edit.at > at) edit.at = at;
    return true;
  }
  if (edit.deleted === 0) return true;
  const end = edit.at + edit.deleted;
  if (against.inserted > 0) {
    if (at <= edit.at) edit.at += against.inserted;
    else if (at < end) return false;
    return true;
  }
  const theirEnd = at + against.deleted;
  const overlap = Math.max(0, Math.min(end, theirEnd) - Math.max(edit.at, at));
  if (edit.at >= theirEnd) edit.at -= against.deleted;
  else if (edit.at > at) edit.at = at;
  edit.deleted -= overlap;
  return true;
}

function toOp(edit: OnePlaceEdit): TextOp {
  if (edit.insert === undefined && edit.deleted === 0) return [];
  const change = edit.insert ?? { d: edit.deleted };
  return edit.at > 0 ? [edit.at, change] : [change];
}

/**
 * Transforms `op` through `history[from]` … `history[to - 1]` in turn (ops applied one after the
 * other), as that many calls of the library's transform would, with `side` for every step.
 */
export function transformThrough(
  op: TextOp,
  history: readonly TextOp[],
  from: number,
  to: number,
  side: 'left' | 'right',
): TextOp {
  const edit = blank();
  let fast = op.length > 0 && readOnePlace(op, true, edit);
  let result = op;
  let moved = false;
  for (let i = from; i < to; i++) {
    const against = history[i]!;
    if (result.length === 0 || against.length === 0) continue;
    if (fast) {
      if (readOnePlace(against, false, theirs) && moveOnePlace(edit, theirs, side)) {
        moved = true;
        if (edit.insert === undefined && edit.deleted === 0) result = [];
        continue;
      }
      if (moved) result = toOp(edit);
      moved = false;
    }
    result = transformOp(result, against, side);
    fast = readOnePlace(result, true, edit);
  }
  return moved && fast ? toOp(edit) : result;
}
