// What a session may hold, and how much work one message may cause. Every limit exists because
// something within the old limits broke the server (docs/operations.md, "Limits and abuse"):
// a 5.9 MB line made every later keystroke a message too large to send; 100 MB of comments made
// GetSession unanswerable; one edit at the oldest base version of a 900 KB file cost 640 ms of CPU.
import { LiveReviewError } from './errors.js';

export interface ContentLimits {
  /** Longest line (code points) an edit or an opened file may make. */
  maxLineChars: number;
  /** Largest file (code points). */
  maxFileChars: number;
  /** All files of a session together (code points). */
  maxSessionChars: number;
  /** Files per session. */
  maxFiles: number;
  /** Comments per session (replies included). */
  maxComments: number;
  /** All comment texts of a session together (characters). */
  maxCommentChars: number;
  /** Most work one message may cause to reach the current version: versions it is behind times
   * the characters (or operation components) each version step costs. */
  maxRebaseWork: number;
}

export const DEFAULT_CONTENT_LIMITS: ContentLimits = {
  maxLineChars: 32_768,
  maxFileChars: 8 * 1024 * 1024,
  maxSessionChars: 64 * 1024 * 1024,
  maxFiles: 1000,
  maxComments: 10_000,
  maxCommentChars: 16 * 1024 * 1024,
  maxRebaseWork: 32 * 1024 * 1024,
};

function limitError(
  reason: 'FILE_TOO_LARGE' | 'SESSION_TOO_LARGE' | 'TOO_MANY_FILES' | 'TOO_MANY_COMMENTS',
  subject: string,
  description: string,
): LiveReviewError {
  return new LiveReviewError(reason, `${subject}: ${description}`, {
    quotaViolations: [{ subject, description }],
  });
}

export function fileTooLarge(path: string, limits: ContentLimits): LiveReviewError {
  return limitError('FILE_TOO_LARGE', `file:${path}`, `at most ${limits.maxFileChars} characters per file`);
}

export function sessionTooLarge(sessionId: string, limits: ContentLimits): LiveReviewError {
  return limitError(
    'SESSION_TOO_LARGE',
    `session:${sessionId}`,
    `at most ${limits.maxSessionChars} characters in all files of a session`,
  );
}

export function tooManyFiles(sessionId: string, limits: ContentLimits): LiveReviewError {
  return limitError('TOO_MANY_FILES', `session:${sessionId}`, `at most ${limits.maxFiles} files per session`);
}

export function tooManyComments(sessionId: string, description: string): LiveReviewError {
  return limitError('TOO_MANY_COMMENTS', `session:${sessionId}`, description);
}

/** The longest line of `text` in code points (a UTF-16 length bounds it from above: exact for the
 * BMP, and never smaller than the code point count). */
export function longestLine(text: string): number {
  let longest = 0;
  let start = 0;
  for (let nl = text.indexOf('\n'); ; nl = text.indexOf('\n', start)) {
    const end = nl === -1 ? text.length : nl;
    if (end - start > longest) longest = end - start;
    if (nl === -1) return longest;
    start = nl + 1;
  }
}

export function lineTooLong(field: string, path: string, limits: ContentLimits): LiveReviewError {
  const description = `would make a line of ${path} longer than ${limits.maxLineChars} characters`;
  return new LiveReviewError('LINE_TOO_LONG', `${field}: ${description}`, {
    fieldViolations: [{ field, description }],
  });
}
