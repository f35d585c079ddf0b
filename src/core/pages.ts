// Reading a session in pages. A session's files and comments can be far larger than one response
// may be (100 MB of comments once made GetSession unanswerable for good), so reads return pages
// bounded in characters and in items: files first (a file larger than a page continues on the next
// one), then comments. The page token is opaque to clients and checked like any input.
import { invalidMessage, LiveReviewError } from './errors.js';
import type { CommentView, FileView } from './model.js';
import type { SessionState } from './session-state.js';

export interface PageRequest {
  /** Most comments per page (0: the default). */
  size: number;
  /** '' for the first page. */
  token: string;
}

export const DEFAULT_PAGE_SIZE = 500;
export const MAX_PAGE_SIZE = 1000;

export interface Page {
  /** The session's head when the first page was read. */
  headSequence: number;
  first: boolean;
  files: (FileView & { continued: boolean })[];
  comments: CommentView[];
  /** '' on the last page. */
  nextToken: string;
}

/** Where the next page starts. */
interface Cursor {
  /** Head sequence at the first page. */
  h: number;
  /** Files read so far (files come first, in the session's order). */
  f: number;
  /** UTF-16 offset reached in file `f` (0: not started). */
  o: number;
  /** Id of the last comment returned ('' before the first). */
  c: string;
}

function encode(cursor: Cursor): string {
  return btoa(JSON.stringify(cursor)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decode(token: string, field: string): Cursor {
  const bad = () => invalidMessage(field, 'is not a page token of this server');
  if (token.length > 2048 || !/^[A-Za-z0-9_-]*$/.test(token)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(atob(token.replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    throw bad();
  }
  const v = value as Partial<Cursor> | null;
  const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!v || !isCount(v.h) || !isCount(v.f) || !isCount(v.o) || typeof v.c !== 'string') throw bad();
  return v as Cursor;
}

/** Characters a comment costs in a page (its texts, plus room for the other fields). */
const commentChars = (c: CommentView) => c.text.length + c.originalLineText.length + c.path.length + 128;

/**
 * One page of a session: up to `budgetChars` characters of file text and comments, at most the
 * requested number of comments. `includeFiles` false: comments only (ListComments).
 */
export function readPage(
  state: SessionState,
  head: number,
  request: PageRequest,
  options: {
    budgetChars: number;
    includeFiles: boolean;
    tokenField: string;
    /** Every comment of the session in its order (a token points into it), and which to return. */
    comments: CommentView[];
    keep(c: CommentView): boolean;
  },
): Page {
  const size = Math.min(MAX_PAGE_SIZE, request.size > 0 ? request.size : DEFAULT_PAGE_SIZE);
  if (request.size < 0) throw invalidMessage('page_size', 'must not be negative');
  const cursor: Cursor = request.token
    ? decode(request.token, options.tokenField)
    : { h: head, f: 0, o: 0, c: '' };
  const files = options.includeFiles ? [...state.files.values()] : [];
  if (cursor.f > files.length)
    throw invalidMessage(options.tokenField, 'is not a page token of this session');
  if (cursor.o > 0 && cursor.h !== head) {
    throw new LiveReviewError(
      'SESSION_CHANGED',
      'the session changed while it was read in pages; read it again from the first page',
    );
  }
  const page: Page = {
    headSequence: cursor.h,
    first: !request.token,
    files: [],
    comments: [],
    nextToken: '',
  };
  let budget = options.budgetChars;
  const next = (at: Cursor) => (page.nextToken = encode(at));
  for (let f = cursor.f; f < files.length; f++) {
    const doc = files[f]!;
    const from = f === cursor.f ? cursor.o : 0;
    if (budget <= 0) return (next({ h: cursor.h, f, o: from, c: '' }), page);
    let to = Math.min(doc.text.length, from + budget);
    // Never split a surrogate pair across pages.
    const last = doc.text.charCodeAt(to - 1);
    if (to < doc.text.length && last >= 0xd800 && last <= 0xdbff) to--;
    // A file's base travels with its first piece (it is bounded by the same file size limit).
    const base = from === 0 ? state.review.baseOf(doc.path) : undefined;
    page.files.push({
      path: doc.path,
      version: doc.version,
      text: doc.text.slice(from, to),
      continued: from > 0,
      ...(base ? { base } : {}),
    });
    budget -= to - from + doc.path.length + 16 + (base?.text.length ?? 0);
    if (to < doc.text.length) return (next({ h: cursor.h, f, o: to, c: '' }), page);
  }
  let started = cursor.c === '';
  let previous = '';
  for (const c of options.comments) {
    if (!started) {
      started = c.id === cursor.c;
      continue;
    }
    if (!options.keep(c)) continue;
    if (page.comments.length >= size || (page.comments.length > 0 && commentChars(c) > budget)) {
      return (next({ h: cursor.h, f: files.length, o: 0, c: previous }), page);
    }
    page.comments.push(c);
    budget -= commentChars(c);
    previous = c.id;
  }
  if (!started) throw invalidMessage(options.tokenField, 'is not a page token of this session');
  return page;
}
