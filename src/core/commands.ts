// Command decisions: validate -> transform. Turns what a client asks for into the change to commit,
// against the session's current state, or throws the documented refusal. Pure: reads the state,
// never changes it (the pipeline applies the change).
import type { FileDocument } from './document.js';
import { invalidMessage, LiveReviewError } from './errors.js';
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
import { checkOp, stripInvertible, type TextOp } from '../ot/text.js';

/** The change a durable command asks for, at the state's current version. */
export function prepare(
  state: SessionState,
  origin: Origin,
  command: DurableCommand,
  now: number,
): DurableChange {
  switch (command.kind) {
    case 'edit':
      return prepareEdit(state, command);
    case 'comment':
      return (
        prepareBaseComment(state, origin, command, now) ??
        withSuggestion(state, command, prepareComment(state, origin, command, now))
      );
    case 'open_file':
      return prepareOpenFile(state, command.path, command.text, command.base);
    default:
      return prepareReview(state, origin, command, now);
  }
}

function prepareEdit(state: SessionState, cmd: EditCommand): DurableChange {
  checkPath('edit.file_path', cmd.path);
  checkVersion('edit.version', cmd.baseVersion);
  let doc = state.files.get(cmd.path);
  if (!doc) {
    if (cmd.baseVersion !== 0) {
      throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(cmd.path)} in this session`);
    }
    // The first edit of a file creates it, empty at version 0 (applyChange adds it on commit).
    doc = state.newDocument(cmd.path);
  }
  let op: TextOp;
  if ('op' in cmd) {
    const checked = checkOp(cmd.op, doc.lengthAt(cmd.baseVersion));
    if ('problem' in checked) {
      throw new LiveReviewError('INVALID_OPERATION', `${cmd.path}: ${checked.problem}`, {
        fieldViolations: [{ field: 'edit.operations', description: checked.problem }],
      });
    }
    op = checked.op;
  } else {
    op = lineEditOp(doc, cmd.baseVersion, cmd.line, cmd.content);
  }
  const rebased = stripInvertible(doc.rebase(op, cmd.baseVersion));
  return { kind: 'edit', path: cmd.path, version: doc.version + 1, op: rebased, line: 0, lineText: '' };
}

/** The seed's line edit as an op: replace line N (its content, not its terminator) at a version;
 * line count + 1 appends a line. */
function lineEditOp(doc: FileDocument, baseVersion: number, line: number, content: string): TextOp {
  checkLine('edit.line_number', line);
  const text = doc.textAt(baseVersion);
  const op = replaceLineOp(text, line, content);
  if (op) return op;
  const lines = lineCount(text);
  throw new LiveReviewError(
    'LINE_OUT_OF_RANGE',
    `${doc.path}: line ${line} does not exist at version ${baseVersion} (${lines} lines)`,
    { fieldViolations: [{ field: 'edit.line_number', description: `must be between 1 and ${lines + 1}` }] },
  );
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
      const text = doc.textAt(version);
      const range = lineRange(text, cmd.line);
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
): DurableChange {
  checkPath('files.path', path);
  if (state.files.has(path)) {
    throw new LiveReviewError('FILE_EXISTS', `${path} is already open in this session`, {
      metadata: { path },
    });
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
export function describe(state: SessionState, change: DurableChange): DurableChange {
  if (isReviewChange(change)) return describeReview(state, change);
  if (change.kind === 'edit') {
    const doc = state.files.get(change.path)!;
    const { line, text } = doc.changedLines(change.op);
    return Object.freeze({ ...change, line, lineText: text });
  }
  if (change.kind === 'comment') {
    const { comments } = state;
    const doc = state.files.get(change.comment.path);
    const record = comments.get(change.comment.id);
    const view = comments.view(record, doc?.text ?? '', doc?.version ?? 0);
    const suggestionStatus = suggestionStatusOf(comments.root(record), doc);
    return Object.freeze({
      ...change,
      comment: Object.freeze({ ...record }),
      line: view.line,
      version: view.version,
      ...(suggestionStatus && !record.parentId ? { suggestionStatus } : {}),
    });
  }
  return Object.freeze(change);
}
