// Splits a session's state into snapshot chunks that each stay well under the message size limit.
import type { CommentView, FileView, SnapshotChunkView, VerdictView, ViewedView } from './model.js';

/** A file's head text then its base text as pieces of at most `maxChars` together: each piece
 * continues the head, then the base, where the previous one stopped. */
function filePieces(text: string, baseText: string, maxChars: number): { text: string; base: string }[] {
  const pieces: { text: string; base: string }[] = [];
  let h = 0;
  let b = 0;
  do {
    const head = take(text, h, maxChars);
    h += head.length;
    const base = h < text.length ? '' : take(baseText, b, maxChars - head.length);
    b += base.length;
    pieces.push({ text: head, base });
  } while (h < text.length || b < baseText.length);
  return pieces;
}

/** Up to `room` UTF-16 units of `text` from `from`, never ending inside a surrogate pair. */
function take(text: string, from: number, room: number): string {
  if (room <= 0 || from >= text.length) return '';
  let end = Math.min(text.length, from + room);
  const last = text.charCodeAt(end - 1);
  if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(from, end);
}

/**
 * Chunks of at most about `chunkChars` characters of content each (UTF-8 encodes a UTF-16 unit in
 * at most 3 bytes, so a budget of maxMessageBytes / 4 keeps every chunk under the limit). A file
 * larger than a chunk continues in the next ones: its head text first, then its base text.
 */
export function buildSnapshotChunks(
  sequence: number,
  files: FileView[],
  comments: CommentView[],
  chunkChars: number,
  review: { verdicts: VerdictView[]; viewed: ViewedView[] } = { verdicts: [], viewed: [] },
): SnapshotChunkView[] {
  const chunks: Omit<SnapshotChunkView, 'count'>[] = [];
  const empty = (index: number): Omit<SnapshotChunkView, 'count'> => ({
    sequence,
    index,
    files: [],
    comments: [],
    verdicts: [],
    viewed: [],
  });
  let current = empty(0);
  let used = 0;
  const flush = () => {
    chunks.push(current);
    current = empty(chunks.length);
    used = 0;
  };
  const fit = (size: number) => {
    if (used > 0 && used + size > chunkChars) flush();
    used += size;
  };
  for (const f of files) {
    const meta = f.base ?? { text: '' };
    const metaSize = f.path.length + (meta.previousPath?.length ?? 0) + 32;
    filePieces(f.text, meta.text, chunkChars).forEach((piece, i) => {
      fit(piece.text.length + piece.base.length + metaSize);
      current.files.push({
        path: f.path,
        version: f.version,
        text: piece.text,
        continued: i > 0,
        base: { ...meta, text: piece.base },
      });
    });
  }
  for (const c of comments) {
    fit(
      c.text.length +
        c.originalLineText.length +
        c.path.length +
        (c.suggestion ? c.suggestion.originalText.length + c.suggestion.replacement.length + 128 : 0) +
        128,
    );
    current.comments.push(c);
  }
  for (const v of review.verdicts) {
    fit(v.message.length + v.reviewer.length + 64);
    current.verdicts.push(v);
  }
  for (const m of review.viewed) {
    fit(m.path.length + m.userId.length + 64);
    current.viewed.push(m);
  }
  chunks.push(current);
  return chunks.map((c) => ({ ...c, count: chunks.length }));
}
