// Command decisions of the review features, beside commands.ts (validate -> transform, pure: they
// read the state and never change it):
// - comments on lines of a file's base (a fixed line that never moves), and suggestions carried
//   by new threads on the head (their lines as a range that moves with edits);
// - applying a suggestion: an edit of the current text, only while its lines hold exactly the
//   text it was made for (src/review/suggestion.ts decides), else SUGGESTION_CONFLICT;
// - verdicts and viewed marks.
import type { CommentBook } from './comments.js';
import type { FileDocument } from './document.js';
import { invalidMessage, LiveReviewError } from './errors.js';
import { frozenCopy } from './frozen.js';
import type {
  CommentCommand,
  CommentRecord,
  DurableChange,
  FileBase,
  FileChange,
  Origin,
  ReviewChange,
  ReviewCommand,
  SuggestionStatusView,
} from './model.js';
import type { SessionState, Undo } from './session-state.js';
import { checkId, checkLine, checkPath, checkVersion, LIMITS } from './validate.js';
import { lineRange } from '../ot/lines.js';
import { checkOp } from '../ot/text.js';
import { decideSuggestion, suggestionTarget } from '../review/suggestion.js';

/** Verdicts a session keeps at most (each reviewer's latest counts; the history is kept). */
export const MAX_VERDICTS = 10_000;

const FILE_CHANGES: ReadonlySet<string> = new Set<FileChange>(['added', 'modified', 'deleted', 'renamed']);

/** A base as OpenReview gives it, checked. */
export function checkBase(field: string, base: FileBase): FileBase {
  if (base.previousPath) checkPath(`${field}.previous_path`, base.previousPath);
  if (base.change !== undefined && !FILE_CHANGES.has(base.change)) {
    throw invalidMessage(`${field}.change`, `unknown change ${JSON.stringify(base.change)}`);
  }
  return {
    text: base.text,
    ...(base.previousPath ? { previousPath: base.previousPath } : {}),
    ...(base.change ? { change: base.change } : {}),
  };
}

/** A new thread on a line of a file's base, or undefined when the command is not one. */
export function prepareBaseComment(
  state: SessionState,
  origin: Origin,
  cmd: CommentCommand,
  now: number,
): DurableChange | undefined {
  if (cmd.side !== 'base') return undefined;
  const { comments } = state;
  const creates =
    cmd.action === 'create' ||
    (cmd.action === undefined && !cmd.parentId && !(cmd.commentId && comments.has(cmd.commentId)));
  // Replies, edits and state changes act on the thread as it is, whichever its side.
  if (!creates) return undefined;
  if (cmd.suggestion) {
    throw invalidMessage('comment.suggestion', 'a suggestion changes the head: it cannot be on a base line');
  }
  if (!cmd.text) throw invalidMessage('comment.text', 'is required');
  if (cmd.text.length > LIMITS.commentTextLength) {
    throw invalidMessage('comment.text', `is longer than ${LIMITS.commentTextLength} characters`);
  }
  checkPath('comment.file_path', cmd.path);
  if (!state.files.has(cmd.path)) {
    throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(cmd.path)} in this session`);
  }
  checkLine('comment.line_number', cmd.line);
  const range = lineRange(state.review.baseOf(cmd.path).text, cmd.line);
  if (!range) {
    throw new LiveReviewError('LINE_OUT_OF_RANGE', `${cmd.path}: the base has no line ${cmd.line}`, {
      fieldViolations: [{ field: 'comment.line_number', description: 'no such line in the base' }],
    });
  }
  const id = checkId('comment.comment_id', cmd.commentId, false) || `c${state.head + 1}`;
  if (comments.has(id)) throw new LiveReviewError('COMMENT_EXISTS', `comment ${JSON.stringify(id)} exists`);
  const comment: CommentRecord = {
    id,
    path: cmd.path,
    side: 'base',
    fixedLine: cmd.line,
    parentId: '',
    authorId: origin.userId,
    text: cmd.text,
    state: 'open',
    outdated: false,
    anchorStart: 0,
    anchorEnd: 0,
    originalLineText: range.text,
    createdAt: now,
    updatedAt: now,
  };
  return { kind: 'comment', action: 'create', comment, line: 0, version: 0 };
}

/** A prepared comment change with the command's suggestion attached (a new thread on the head),
 * or a reply without its thread's suggestion (replies copy their root's record). */
export function withSuggestion(
  state: SessionState,
  cmd: CommentCommand,
  change: DurableChange,
): DurableChange {
  if (change.kind !== 'comment') return change;
  if (change.action === 'reply' && change.comment.suggestion) {
    const {
      suggestion: _s,
      suggestionStart: _a,
      suggestionEnd: _b,
      appliedBy: _c,
      appliedAt: _d,
      appliedSeq: _e,
      ...reply
    } = change.comment;
    return { ...change, comment: reply };
  }
  const s = cmd.suggestion;
  if (!s) return change;
  if (change.action !== 'create' || change.comment.path === '') {
    throw invalidMessage(
      'comment.suggestion',
      'only a new thread on a line of a file can carry a suggestion',
    );
  }
  const doc = state.files.get(change.comment.path)!;
  checkLine('comment.suggestion.start_line', s.startLine);
  checkLine('comment.suggestion.end_line', s.endLine);
  if (s.endLine < s.startLine) {
    throw invalidMessage('comment.suggestion.end_line', 'must not be before start_line');
  }
  if (cmd.line < s.startLine || cmd.line > s.endLine) {
    throw invalidMessage('comment.line_number', "must be one of the suggestion's lines");
  }
  if (s.replacement.length > LIMITS.commentTextLength) {
    throw invalidMessage(
      'comment.suggestion.replacement',
      `is longer than ${LIMITS.commentTextLength} characters`,
    );
  }
  const version = cmd.version ?? doc.version;
  const target = suggestionTarget(doc.textAt(version), s.startLine, s.endLine);
  if (!target) {
    throw new LiveReviewError(
      'LINE_OUT_OF_RANGE',
      `${doc.path}: lines ${s.startLine}-${s.endLine} do not exist at version ${version}`,
      { fieldViolations: [{ field: 'comment.suggestion.end_line', description: 'no such line' }] },
    );
  }
  if (target.originalText.length > LIMITS.commentTextLength) {
    throw invalidMessage(
      'comment.suggestion.end_line',
      `the lines hold more than ${LIMITS.commentTextLength} characters`,
    );
  }
  if (s.originalText !== '' && s.originalText !== target.originalText) {
    throw suggestionConflict(
      change.comment.id,
      doc.path,
      'lines_edited',
      `lines ${s.startLine}-${s.endLine} at version ${version} are not the text the suggestion was made for`,
    );
  }
  const start = doc.rebasePosition(target.anchor.start, version, true);
  const end = Math.max(start, doc.rebasePosition(target.anchor.end, version, false));
  const comment: CommentRecord = {
    ...change.comment,
    suggestion: Object.freeze({
      startLine: s.startLine,
      endLine: s.endLine,
      replacement: withLineBreak(s.replacement, target.originalText),
      originalText: target.originalText,
    }),
    suggestionStart: start,
    suggestionEnd: end,
  };
  return { ...change, comment };
}

/** Whole lines replace whole lines: a replacement of lines that end with a line break gets theirs
 * ("\n" or "\r\n") when it has none. */
function withLineBreak(replacement: string, originalText: string): string {
  if (replacement === '' || replacement.endsWith('\n') || !originalText.endsWith('\n')) return replacement;
  return replacement + (originalText.endsWith('\r\n') ? '\r\n' : '\n');
}

/** The change a review command asks for, at the state's current version. */
export function prepareReview(
  state: SessionState,
  origin: Origin,
  cmd: ReviewCommand,
  now: number,
): DurableChange {
  switch (cmd.kind) {
    case 'apply_suggestion':
      return prepareApply(state, origin, cmd.commentId, now);
    case 'verdict':
      if (state.review.verdictCount >= MAX_VERDICTS) {
        const description = `at most ${MAX_VERDICTS} verdicts per session`;
        throw new LiveReviewError('TOO_MANY_VERDICTS', description, {
          quotaViolations: [{ subject: `session:${state.sessionId}`, description }],
        });
      }
      if (cmd.message.length > LIMITS.commentTextLength) {
        throw invalidMessage('verdict.message', `is longer than ${LIMITS.commentTextLength} characters`);
      }
      return {
        kind: 'verdict',
        reviewer: origin.userId,
        verdict: cmd.verdict,
        message: cmd.message,
        at: now,
      };
    case 'viewed': {
      checkPath('file_viewed.file_path', cmd.path);
      const doc = state.files.get(cmd.path);
      if (!doc)
        throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(cmd.path)} in this session`);
      const version = checkVersion('file_viewed.version', cmd.version ?? doc.version);
      if (version > doc.version) {
        throw new LiveReviewError(
          'VERSION_AHEAD',
          `${doc.path}: version ${version} is ahead of the file (version ${doc.version})`,
          { metadata: { path: doc.path, version: String(doc.version) } },
        );
      }
      return { kind: 'viewed', path: doc.path, userId: origin.userId, version, viewed: cmd.viewed, at: now };
    }
  }
}

function prepareApply(state: SessionState, origin: Origin, commentId: string, now: number): DurableChange {
  checkId('apply_suggestion.comment_id', commentId);
  const { comments } = state;
  const root = comments.root(comments.get(commentId));
  const { suggestion, suggestionStart, suggestionEnd } = root;
  if (!suggestion || suggestionStart === undefined || suggestionEnd === undefined) {
    throw new LiveReviewError('NOT_A_SUGGESTION', `thread ${JSON.stringify(root.id)} has no suggestion`);
  }
  if (root.appliedSeq !== undefined) {
    throw new LiveReviewError(
      'SUGGESTION_APPLIED',
      `the suggestion of ${root.id} was applied by ${root.appliedBy} (event ${root.appliedSeq})`,
      { metadata: { applied_by: root.appliedBy ?? '', applied_sequence: String(root.appliedSeq) } },
    );
  }
  const doc = state.files.get(root.path);
  if (!doc)
    throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(root.path)} in this session`);
  const decision = decideSuggestion({
    text: doc.text,
    anchor: { start: suggestionStart, end: suggestionEnd },
    originalText: suggestion.originalText,
    replacement: suggestion.replacement,
    known: doc.known,
  });
  if (decision.status === 'conflicting') {
    throw suggestionConflict(root.id, doc.path, decision.reason, decision.message);
  }
  const checked = checkOp(decision.op, doc.codePoints);
  if ('problem' in checked) {
    throw new LiveReviewError(
      'INTERNAL',
      `${doc.path}: the suggestion's edit does not fit: ${checked.problem}`,
    );
  }
  return {
    kind: 'suggestion_applied',
    path: doc.path,
    version: doc.version + 1,
    op: checked.op,
    line: 0,
    lineText: '',
    commentId: root.id,
    suggestionAuthorId: root.authorId,
    appliedBy: origin.userId,
    appliedAt: now,
  };
}

function suggestionConflict(
  commentId: string,
  path: string,
  conflict: string,
  message: string,
): LiveReviewError {
  return new LiveReviewError('SUGGESTION_CONFLICT', `${commentId}: ${message}`, {
    metadata: { conflict, comment: commentId, path },
  });
}

/** Marks a thread's suggestion applied (and the thread resolved) by a committed change. */
export function markApplied(
  comments: CommentBook,
  change: Extract<ReviewChange, { kind: 'suggestion_applied' }>,
  seq: number,
): Undo {
  const root = comments.get(change.commentId);
  const before = {
    appliedBy: root.appliedBy,
    appliedAt: root.appliedAt,
    appliedSeq: root.appliedSeq,
    state: root.state,
    updatedAt: root.updatedAt,
  };
  root.appliedBy = change.appliedBy;
  root.appliedAt = change.appliedAt;
  root.appliedSeq = seq;
  root.state = 'resolved';
  root.updatedAt = change.appliedAt;
  return () => void Object.assign(root, before);
}

/** A suggestion's status against the current text of its file (undefined: no suggestion). */
export function suggestionStatusOf(
  c: CommentRecord,
  doc: FileDocument | undefined,
): SuggestionStatusView | undefined {
  if (!c.suggestion) return undefined;
  if (c.appliedSeq !== undefined) return { status: 'applied' };
  if (doc === undefined || c.suggestionStart === undefined || c.suggestionEnd === undefined) {
    return {
      status: 'conflicting',
      conflict: 'anchor_invalid',
      message: 'the file of the suggestion is gone',
    };
  }
  const decision = decideSuggestion({
    text: doc.text,
    anchor: { start: c.suggestionStart, end: c.suggestionEnd },
    originalText: c.suggestion.originalText,
    replacement: c.suggestion.replacement,
    known: doc.known,
  });
  return decision.status === 'applicable'
    ? { status: 'pending' }
    : { status: 'conflicting', conflict: decision.reason, message: decision.message };
}

export function isReviewChange(change: DurableChange): change is ReviewChange {
  return change.kind === 'suggestion_applied' || change.kind === 'verdict' || change.kind === 'viewed';
}

/** Completes a review change after it was applied (what only the new state tells), then freezes
 * it: it becomes the logged event's change. */
export function describeReview(state: SessionState, change: ReviewChange): DurableChange {
  if (change.kind !== 'suggestion_applied') return Object.freeze(change);
  const doc = state.files.get(change.path)!;
  const { line, text } = doc.changedLines(change.op);
  const root = state.comments.get(change.commentId);
  const view = state.comments.view(root, doc);
  return frozenCopy(change, {
    line,
    lineText: text,
    thread: Object.freeze({ comment: frozenCopy(root), line: view.line }),
  });
}

/**
 * Whether a committed event goes to its own sender as the event rather than as an ack: the
 * sender does not have its content yet. A file opened (by a unary call), an applied suggestion
 * (the edit is the server's), a new suggestion (its range as the server placed it), a verdict and
 * a viewed mark (their times as committed).
 */
export function echoesToOrigin(change: DurableChange): boolean {
  switch (change.kind) {
    case 'file_opened':
    case 'suggestion_applied':
    case 'verdict':
    case 'viewed':
      return true;
    case 'comment':
      return change.action === 'create' && change.comment.suggestion !== undefined;
    default:
      return false;
  }
}
