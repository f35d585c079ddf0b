// What a file path of a review may look like. Paths come from a git working tree or from the
// network and end up in file names, terminals and Markdown, so anything that could escape a
// directory, spoof a display or mean different things on different systems is refused.

/** The longest path accepted, in UTF-16 code units (the engine's own limit for a file path). */
export const MAX_PATH_LENGTH = 1024;

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Why `path` is not acceptable as a review path, or undefined when it is: a relative path with
 * '/' separators, no empty, '.' or '..' segment, no backslash (a separator on Windows), no
 * control character, at most MAX_PATH_LENGTH long.
 */
export function reviewPathProblem(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (path.length > MAX_PATH_LENGTH) return `is longer than ${MAX_PATH_LENGTH} characters`;
  if (CONTROL.test(path)) return 'contains control characters';
  if (path.includes('\\')) return 'contains a backslash';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'is absolute';
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
  }
  return undefined;
}
