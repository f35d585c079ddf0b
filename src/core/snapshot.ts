// Splits a session's state into snapshot chunks that each stay well under the message size limit.
import type { CommentView, FileView, SnapshotChunkView } from './model.js';

/** Splits text into pieces of at most `maxChars` UTF-16 units without cutting a surrogate pair. */
function splitText(text: string, maxChars: number): string[] {
  if (text.length <= maxChars) return [text];
  const parts: string[] = [];
  for (let i = 0; i < text.length;) {
    let end = Math.min(text.length, i + maxChars);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(text.slice(i, end));
    i = end;
  }
  return parts;
}

/**
 * Chunks of at most about `chunkChars` characters of content each (UTF-8 encodes a UTF-16 unit in
 * at most 3 bytes, so a budget of maxMessageBytes / 4 keeps every chunk under the limit).
 */
export function buildSnapshotChunks(
  sequence: number,
  files: FileView[],
  comments: CommentView[],
  chunkChars: number,
): SnapshotChunkView[] {
  const chunks: Omit<SnapshotChunkView, 'count'>[] = [];
  let current: Omit<SnapshotChunkView, 'count'> = { sequence, index: 0, files: [], comments: [] };
  let used = 0;
  const flush = () => {
    chunks.push(current);
    current = { sequence, index: chunks.length, files: [], comments: [] };
    used = 0;
  };
  for (const f of files) {
    const parts = splitText(f.text, chunkChars);
    parts.forEach((part, i) => {
      if (used > 0 && used + part.length + f.path.length > chunkChars) flush();
      current.files.push({ path: f.path, version: f.version, text: part, continued: i > 0 });
      used += part.length + f.path.length + 16;
    });
  }
  for (const c of comments) {
    const size = c.text.length + c.originalLineText.length + c.path.length + 128;
    if (used > 0 && used + size > chunkChars) flush();
    current.comments.push(c);
    used += size;
  }
  chunks.push(current);
  return chunks.map((c) => ({ ...c, count: chunks.length }));
}
