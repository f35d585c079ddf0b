// A file's head text as it was right after a given event (GetFileAt).
//
// Recent history is answered from memory: the version index says which version the event left
// the file at, and the document rebuilds that version from its invertible history. Older history
// is replayed from the start of the log (logged edits are not invertible), outside the session's
// mailbox (committed events never change), with the work bounded: at most MAX_REPLAY_EVENTS
// events read and MAX_REPLAY_WORK characters copied by applying edits, else HISTORY_UNAVAILABLE.
import { LiveReviewError, storeUnavailable } from './errors.js';
import type { SessionState } from './session-state.js';
import type { Store } from './store.js';
import { applyOp } from '../ot/text.js';

export interface FileAt {
  path: string;
  /** The sequence number the text is as of. */
  sequence: number;
  exists: boolean;
  version: number;
  text: string;
}

/** Events read at most to rebuild a file from the log. */
export const MAX_REPLAY_EVENTS = 50_000;
/** Characters copied at most by applying logged edits (each edit copies the file's text). */
export const MAX_REPLAY_WORK = 200_000_000;
const PAGE = 500;

/** The file at `seq` from memory (between batches, `seq` <= the state's head), or undefined when
 * memory does not reach back that far. */
export function fileAtFromMemory(state: SessionState, path: string, seq: number): FileAt | undefined {
  const doc = state.files.get(path);
  const absent: FileAt = { path, sequence: seq, exists: false, version: 0, text: '' };
  // A session never loses a file: one that is not here now never was.
  if (!doc) return absent;
  if (seq >= state.head) return { path, sequence: seq, exists: true, version: doc.version, text: doc.text };
  const at = state.versions.versionAt(path, seq);
  if (at.kind === 'absent') return absent;
  if (at.kind === 'unknown') return undefined;
  try {
    const text = at.version === doc.version ? doc.text : doc.textAt(at.version);
    return { path, sequence: seq, exists: true, version: at.version, text };
  } catch (err) {
    if (err instanceof LiveReviewError && err.reason === 'VERSION_TOO_OLD') return undefined;
    throw err;
  }
}

/** The file at `seq` replayed from the start of the log. */
export async function fileAtFromLog(
  store: Store,
  sessionId: string,
  path: string,
  seq: number,
  signal?: AbortSignal,
): Promise<FileAt> {
  const oldest = await store.firstRetainedSeq(sessionId).catch((err: unknown) => {
    throw storeUnavailable(err);
  });
  if (oldest > 1) throw unavailable('pruned', `the log before event ${oldest} is no longer kept`, oldest);
  if (seq > MAX_REPLAY_EVENTS) {
    throw unavailable('too_long', `rebuilding would replay more than ${MAX_REPLAY_EVENTS} events`, oldest);
  }
  let text: string | undefined;
  let version = 0;
  let work = 0;
  for (let after = 0; after < seq;) {
    if (signal?.aborted) throw new LiveReviewError('CANCELLED', 'cancelled');
    const events = await store
      .readEvents(sessionId, after, Math.min(PAGE, seq - after))
      .catch((err: unknown) => {
        throw storeUnavailable(err);
      });
    if (events.length === 0) throw unavailable('pruned', `the log ends before event ${seq}`, oldest);
    for (const e of events) {
      if (e.seq !== after + 1) throw unavailable('pruned', `the log has no event ${after + 1}`, oldest);
      after = e.seq;
      const c = e.change;
      if (c.kind === 'file_opened' && c.path === path) {
        text = c.text;
        version = c.version;
      } else if ((c.kind === 'edit' || c.kind === 'suggestion_applied') && c.path === path) {
        work += (text?.length ?? 0) + 1;
        if (work > MAX_REPLAY_WORK) {
          throw unavailable(
            'too_long',
            `rebuilding would copy more than ${MAX_REPLAY_WORK} characters`,
            oldest,
          );
        }
        text = applyOp(text ?? '', c.op);
        version = c.version;
      }
      if (after >= seq) break;
    }
  }
  return text === undefined
    ? { path, sequence: seq, exists: false, version: 0, text: '' }
    : { path, sequence: seq, exists: true, version, text };
}

function unavailable(why: 'pruned' | 'too_long', message: string, oldest: number): LiveReviewError {
  return new LiveReviewError('HISTORY_UNAVAILABLE', message, {
    metadata: { why, oldest: String(oldest) },
  });
}
