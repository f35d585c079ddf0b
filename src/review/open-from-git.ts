// Opens a review of a git working tree in a session: the files src/review/git-source.ts collects,
// each with its base and head texts, in as many OpenReview calls as the message size limit needs.
// A library call (the `livereview open` command is this plus printing); the session is reached
// through anything with the SDK's openReview, so it works over any transport.
import {
  collectReview,
  type CollectReviewOptions,
  type CollectedReview,
  type SkippedFile,
} from './git-source.js';
import { diffTexts } from './diff.js';
import type { FileChange } from './model.js';

/** What opening a review needs of a session client (LiveReviewClient has it). */
export interface ReviewOpener {
  openReview(
    files: {
      path: string;
      text: string;
      base: { text: string; previousPath?: string; change?: FileChange };
    }[],
  ): Promise<{ sequence: number }>;
}

export interface OpenOptions {
  client: ReviewOpener;
  /** The largest OpenReview request the server takes, in bytes. Default 1 MiB, the server's
   * default --max-message-bytes. */
  maxMessageBytes?: number;
}

export type OpenFromGitOptions = CollectReviewOptions & OpenOptions;

export interface OpenedFile {
  path: string;
  change: FileChange;
  previousPath?: string;
  /** Lines added and removed (undefined when the diff is too large to compute). */
  linesAdded?: number;
  linesRemoved?: number;
}

export interface OpenedFromGit {
  review: CollectedReview;
  /** In path order. */
  opened: OpenedFile[];
  /** What git-source skipped, and files too large for one message. */
  skipped: SkippedFile[];
  /** OpenReview calls made. */
  calls: number;
  /** The session's sequence number after the last call. */
  sequence: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Room in a request for everything but the texts and paths (ids, field tags, lengths). */
const ENVELOPE_BYTES = 16 * 1024;
const PER_FILE_BYTES = 64;

/** Collects the review and opens it; throws GitSourceError (nothing opened) or the client's error
 * (files of earlier calls stay opened; opening them again is idempotent). */
export async function openReviewFromGit(options: OpenFromGitOptions): Promise<OpenedFromGit> {
  return openCollectedReview(await collectReview(options), options);
}

/** Opens a collected review (OpenReview needs at least one file: a review with none opens
 * nothing). */
export async function openCollectedReview(
  review: CollectedReview,
  options: OpenOptions,
): Promise<OpenedFromGit> {
  const budget = (options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES) - ENVELOPE_BYTES;
  const skipped = [...review.skipped];
  const batches: (typeof review.files)[] = [];
  let batch: typeof review.files = [];
  let used = 0;
  for (const f of review.files) {
    const size =
      Buffer.byteLength(f.headText) +
      Buffer.byteLength(f.baseText) +
      2 * Buffer.byteLength(f.path) +
      Buffer.byteLength(f.previousPath ?? '') +
      PER_FILE_BYTES;
    if (size > budget) {
      skipped.push({
        path: f.path,
        reason: 'too_large',
        note: `${size} bytes with its base, more than one OpenReview message holds (${budget})`,
      });
      continue;
    }
    if (used + size > budget && batch.length > 0) {
      batches.push(batch);
      batch = [];
      used = 0;
    }
    batch.push(f);
    used += size;
  }
  if (batch.length > 0) batches.push(batch);
  let sequence = 0;
  for (const files of batches) {
    const r = await options.client.openReview(
      files.map((f) => ({
        path: f.path,
        text: f.headText,
        base: {
          text: f.baseText,
          change: f.change,
          ...(f.previousPath !== undefined ? { previousPath: f.previousPath } : {}),
        },
      })),
    );
    sequence = Math.max(sequence, r.sequence);
  }
  const opened = batches.flat().map((f): OpenedFile => {
    const d = diffTexts(f.baseText, f.headText);
    return {
      path: f.path,
      change: f.change,
      ...(f.previousPath !== undefined ? { previousPath: f.previousPath } : {}),
      ...(d.status === 'diffed' ? { linesAdded: d.added, linesRemoved: d.removed } : {}),
    };
  });
  skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { review, opened, skipped, calls: batches.length, sequence };
}
