// Command decisions: validate -> transform. Turns what a client asks for into the change to commit,
// against the session's current state, or throws the documented refusal. Pure: reads the state,
// never changes it (the pipeline applies the change).
import {
  fileTooLarge,
  lineTooLong,
  longestLine,
  sessionTooLarge,
  tooManyComments,
  tooManyFiles,
  type ContentLimits,
} from './content-limits.js';
import type { FileDocument } from './document.js';
import { invalidMessage, LiveReviewError } from './errors.js';
import { frozenCopy } from './frozen.js';
import type {
  CommentCommand,
  CommentRecord,
  DurableChange,
  DurableCommand,
  EditCommand,
  FileBase,
  Origin,
} from './model.js';
import {
  checkBase,
  describeReview,
  isReviewChange,
  prepareBaseComment,
  prepareReview,
  suggestionStatusOf,
  withSuggestion,
} from './review-commands.js';
import type { SessionState } from './session-state.js';
import { checkLine, checkPath, checkVersion, LIMITS } from './validate.js';
import { lineCount, lineRange, replaceLineOp } from '../ot/lines.js';
import { checkOp, codePointLength, detach, lengthChange, stripInvertible, type TextOp } from '../ot/text.js';

/** The change a durable command asks for, at the state's current version. */
export function prepare(
  state: SessionState,
  origin: Origin,
  command: DurableCommand,
  now: number,
  limits: ContentLimits,
): DurableChange {
  switch (command.kind) {
    case 'edit':
      return prepareEdit(state, command, limits);
    case 'comment':
      checkCommentVolume(state, command, limits);
      return (
        prepareBaseComment(state, origin, command, now) ??
        withSuggestion(state, command, prepareComment(state, origin, command, now, limits))
      );
    case 'open_file':
      return prepareOpenFile(state, command.path, command.text, command.base, limits);
    default:
      return prepareReview(state, origin, command, now);
  }
}

/** All the text of a session's files, in code points. */
function sessionChars(state: SessionState): number {
  let n = 0;
  for (const doc of state.files.values()) n += doc.codePoints;
  return n;
}

function prepareEdit(state: SessionState, cmd: EditCommand, limits: ContentLimits): DurableChange {
  checkPath('edit.file_path', cmd.path);
  checkVersion('edit.version', cmd.baseVersion);
  let doc = state.files.get(cmd.path);
  if (!doc) {
    if (cmd.baseVersion !== 0) {
      throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(cmd.path)} in this session`);
    }
    if (state.files.size >= limits.maxFiles) throw tooManyFiles(state.sessionId, limits);
    // The first edit of a file creates it, empty at version 0 (applyChange adds it on commit).
    doc = state.newDocument(cmd.path);
  }
  let op: TextOp;
  if ('op' in cmd) {
    // Transforming costs about the op's size per version it is behind; a component costs about 40
    // times what a character of textAt does (measured: ~33 ns against ~0.8 ns), so the one budget
    // bounds both in time.
    doc.checkWork(cmd.baseVersion, (cmd.op.length + 8) * 40, limits.maxRebaseWork);
    const checked = checkOp(cmd.op, doc.lengthAt(cmd.baseVersion));
    if ('problem' in checked) {
      throw new LiveReviewError('INVALID_OPERATION', `${cmd.path}: ${checked.problem}`, {
        fieldViolations: [{ field: 'edit.operations', description: checked.problem }],
      });
    }
    op = checked.op;
  } else {
    // Rebuilding the text at the base version costs the text's length per version behind.
    doc.checkWork(cmd.baseVersion, doc.codePoints, limits.maxRebaseWork);
    if (longestLine(cmd.content) > limits.maxLineChars) throw lineTooLong('edit.content', doc.path, limits);
    op = lineEditOp(doc, cmd.baseVersion, cmd.line, cmd.content);
  }
  const rebased = stripInvertible(doc.rebase(op, cmd.baseVersion));
  const growth = lengthChange(rebased);
  if (growth > 0) {
    if (doc.codePoints + growth > limits.maxFileChars) throw fileTooLarge(cmd.path, limits);
    if (sessionChars(state) + growth > limits.maxSessionChars) throw sessionTooLarge(state.sessionId, limits);
  }
  return { kind: 'edit', path: cmd.path, version: doc.version + 1, op: rebased, line: 0, lineText: '' };
}

/** The seed's line edit as an op: replace line N (its content, not its terminator) at a version;
 * line count + 1 appends a line. */
function lineEditOp(doc: FileDocument, baseVersion: number, line: number, content: string): TextOp {
  checkLine('edit.line_number', line);
  const text = baseVersion === doc.version ? undefined : doc.textAt(baseVersion);
  const op = text === undefined ? doc.replaceLineOp(line, content) : replaceLineOp(text, line, content);
  if (op) return op;
  const lines = lineCount(text ?? doc.text);
  throw new LiveReviewError(
    'LINE_OUT_OF_RANGE',
    `${doc.path}: line ${line} does not exist at version ${baseVersion} (${lines} lines)`,
    { fieldViolations: [{ field: 'edit.line_number', description: `must be between 1 and ${lines + 1}` }] },
  );
}

/** A session's comment volume is bounded: their number, and their text in all. */
function checkCommentVolume(state: SessionState, cmd: CommentCommand, limits: ContentLimits): void {
  const { comments } = state;
  const creates =
    cmd.action === 'create' ||
    cmd.action === 'reply' ||
    (cmd.action === undefined && !comments.has(cmd.commentId));
  if (creates && comments.size >= limits.maxComments)
    throw tooManyComments(state.sessionId, `at most ${limits.maxComments} comments per session`);
  if (cmd.text && comments.textChars + cmd.text.length > limits.maxCommentChars) {
    throw tooManyComments(
      state.sessionId,
      `at most ${limits.maxCommentChars} characters in all comments of a session`,
    );
  }
}

/** The file a new comment is on. A comment that names none (a seed client's: the seed's Comment
 * has no file) goes to the session's only file; with no file or several, it is a comment on the
 * review as a whole (the engine first fills in the file of the author's cursor, when it has one). */
function commentFile(state: SessionState, path: string): FileDocument | undefined {
  if (path) {
    checkPath('comment.file_path', path);
    const doc = state.files.get(path);
    if (!doc) throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(path)} in this session`);
    return doc;
  }
  return state.files.size === 1 ? (state.files.values().next().value as FileDocument) : undefined;
}

function prepareComment(
  state: SessionState,
  origin: Origin,
  cmd: CommentCommand,
  now: number,
  limits: ContentLimits,
): DurableChange {
  const { comments } = state;
  const action =
    cmd.action ?? (cmd.commentId && comments.has(cmd.commentId) ? 'edit' : cmd.parentId ? 'reply' : 'create');
  if (cmd.text.length > LIMITS.commentTextLength) {
    throw invalidMessage('comment.text', `is longer than ${LIMITS.commentTextLength} characters`);
  }
  const newId = () => {
    const id = cmd.commentId || `c${state.head + 1}`;
    if (comments.has(id)) throw new LiveReviewError('COMMENT_EXISTS', `comment ${JSON.stringify(id)} exists`);
    return id;
  };
  switch (action) {
    case 'create': {
      if (!cmd.text) throw invalidMessage('comment.text', 'is required');
      const id = newId();
      const doc = commentFile(state, cmd.path);
      if (!doc) {
        // On the review as a whole: kept with the line number it was given (0: no line), not
        // anchored to any text.
        if (!Number.isInteger(cmd.line) || cmd.line < 0)
          throw invalidMessage('comment.line_number', 'must not be negative');
        return {
          kind: 'comment',
          action,
          comment: {
            id,
            path: '',
            fixedLine: cmd.line,
            parentId: '',
            authorId: origin.userId,
            text: cmd.text,
            state: 'open',
            outdated: false,
            anchorStart: 0,
            anchorEnd: 0,
            originalLineText: '',
            createdAt: now,
            updatedAt: now,
          },
          line: 0,
          version: 0,
        };
      }
      checkLine('comment.line_number', cmd.line);
      const version = cmd.version ?? doc.version;
      checkVersion('comment.version', version);
      doc.checkWork(version, doc.codePoints, limits.maxRebaseWork);
      const range =
        version === doc.version ? doc.lineRange(cmd.line) : lineRange(doc.textAt(version), cmd.line);
      if (!range) {
        throw new LiveReviewError(
          'LINE_OUT_OF_RANGE',
          `${doc.path}: line ${cmd.line} does not exist at version ${version}`,
          { fieldViolations: [{ field: 'comment.line_number', description: 'no such line' }] },
        );
      }
      const anchorStart = doc.rebasePosition(range.start, version, true);
      const anchorEnd = Math.max(anchorStart, doc.rebasePosition(range.end, version, false));
      const comment: CommentRecord = {
        id,
        path: doc.path,
        parentId: '',
        authorId: origin.userId,
        text: cmd.text,
        state: 'open',
        outdated: range.end > range.start && anchorStart >= anchorEnd,
        anchorStart,
        anchorEnd,
        originalLineText: range.text,
        createdAt: now,
        updatedAt: now,
      };
      return { kind: 'comment', action, comment, line: 0, version: 0 };
    }
    case 'reply': {
      if (!cmd.text) throw invalidMessage('comment.text', 'is required');
      const root = comments.root(comments.get(cmd.parentId));
      const comment: CommentRecord = {
        ...root,
        id: newId(),
        parentId: root.id,
        authorId: origin.userId,
        text: cmd.text,
        createdAt: now,
        updatedAt: now,
      };
      return { kind: 'comment', action, comment, line: 0, version: 0 };
    }
    case 'edit': {
      if (!cmd.text) throw invalidMessage('comment.text', 'is required');
      const existing = comments.get(cmd.commentId);
      return {
        kind: 'comment',
        action,
        comment: { ...existing, text: cmd.text, updatedAt: now },
        line: 0,
        version: 0,
      };
    }
    case 'resolve':
    case 'reopen': {
      const root = comments.root(comments.get(cmd.commentId));
      const stateName = action === 'resolve' ? 'resolved' : 'open';
      return {
        kind: 'comment',
        action,
        comment: { ...root, state: stateName, updatedAt: now },
        line: 0,
        version: 0,
      };
    }
  }
}

function prepareOpenFile(
  state: SessionState,
  path: string,
  text: string,
  base: FileBase | undefined,
  limits: ContentLimits,
): DurableChange {
  checkPath('files.path', path);
  if (state.files.has(path)) {
    throw new LiveReviewError('FILE_EXISTS', `${path} is already open in this session`, {
      metadata: { path },
    });
  }
  if (state.files.size >= limits.maxFiles) throw tooManyFiles(state.sessionId, limits);
  const chars = codePointLength(text);
  if (chars > limits.maxFileChars) throw fileTooLarge(path, limits);
  if (sessionChars(state) + chars > limits.maxSessionChars) throw sessionTooLarge(state.sessionId, limits);
  if (longestLine(text) > limits.maxLineChars) throw lineTooLong('files.text', path, limits);
  if (base) {
    if (codePointLength(base.text) > limits.maxFileChars) throw fileTooLarge(path, limits);
    if (longestLine(base.text) > limits.maxLineChars) throw lineTooLong('files.base.text', path, limits);
  }
  return {
    kind: 'file_opened',
    path,
    version: 0,
    text,
    ...(base ? { base: checkBase('files.base', base) } : {}),
  };
}

/** Completes a change after it was applied with what only the new state tells (affected line,
 * a comment's current line), then freezes it: it becomes the logged event's change. */
export function describe(state: SessionState, change: DurableChange, limits: ContentLimits): DurableChange {
  if (isReviewChange(change)) return describeReview(state, change);
  if (change.kind === 'edit') {
    const doc = state.files.get(change.path)!;
    const { line, text } = doc.changedLines(change.op);
    if (longestLine(text) > limits.maxLineChars) throw lineTooLong('edit.operations', change.path, limits);
    // Far-apart changes (one op editing the top and the bottom of a file) would make the seed's
    // "replace line N with these lines" as large as the file: then the first changed line only (a
    // seed client cannot follow such an edit exactly; docs/contract.md says so).
    const lineText =
      text.length <= 4 * limits.maxLineChars ? text : detach(text.slice(0, text.indexOf('\n')));
    // A literal: its hidden class is shared (see frozen.ts for what a frozen spread copy costs).
    return Object.freeze({
      kind: 'edit',
      path: change.path,
      version: change.version,
      op: change.op,
      line,
      lineText,
    });
  }
  if (change.kind === 'comment') {
    const { comments } = state;
    const doc = state.files.get(change.comment.path);
    const record = comments.get(change.comment.id);
    const view = comments.view(record, doc);
    const suggestionStatus = suggestionStatusOf(comments.root(record), doc);
    return frozenCopy(change, {
      comment: frozenCopy(record),
      line: view.line,
      version: view.version,
      ...(suggestionStatus && !record.parentId ? { suggestionStatus } : {}),
    });
  }
  return Object.freeze(change);
}
