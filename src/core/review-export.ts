// A session as a review (src/review/model.ts): what ExportReview renders and GetSession
// summarizes. The state is captured between batches (captureReview: plain values at one
// sequence number); the log up to that number is then read outside the session's mailbox, since
// committed events never change, for what only the log knows: who resolved a thread and when,
// and the timeline (runs of edits folded: a session logs every keystroke). The timeline covers at
// most the last MAX_TIMELINE_EVENTS events.
import { storeUnavailable } from './errors.js';
import type { CommentView, FileView, LoggedEvent, VerdictView, ViewedView } from './model.js';
import type { Role } from './roles.js';
import type { SessionState } from './session-state.js';
import type { Store } from './store.js';
import type {
  Participant,
  ReviewExport,
  ReviewFile,
  ReviewThread,
  TimelineEntry,
  Verdict,
} from '../review/model.js';
import { summarizeReview, type ReviewSummary } from '../review/summary.js';

export const MAX_TIMELINE_EVENTS = 20_000;
const PAGE = 1000;

/** A session's review state at one sequence number. */
export interface CapturedReview {
  sessionId: string;
  headSequence: number;
  files: FileView[];
  comments: CommentView[];
  verdicts: VerdictView[];
  viewed: ViewedView[];
  /** Who is here now: names and roles. */
  present: { userId: string; displayName: string; role?: Role }[];
}

export function captureReview(
  state: SessionState,
  headSequence: number,
  present: CapturedReview['present'],
): CapturedReview {
  return {
    sessionId: state.sessionId,
    headSequence,
    files: state.fileViews(),
    comments: state.commentViews(true),
    verdicts: state.review.verdictViews(),
    viewed: state.review.viewedViews(),
    present,
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The summary of a captured review (GetSession): verdicts, threads, files viewed per user. */
export function summarizeCaptured(
  r: Pick<CapturedReview, 'files' | 'comments' | 'verdicts' | 'viewed'>,
): ReviewSummary {
  return summarizeReview({
    files: reviewFiles(r.files, r.viewed),
    threads: r.comments
      .filter((c) => !c.parentId)
      .map((c) => ({
        state: c.state,
        outdated: c.outdated,
        ...(c.suggestionStatus ? { suggestion: { status: c.suggestionStatus.status } } : {}),
      })),
    verdicts: r.verdicts.map(verdictOf),
  });
}

/** The events up to `head` a timeline is built from: the last MAX_TIMELINE_EVENTS that are kept. */
export async function readTimelineEvents(
  store: Store,
  sessionId: string,
  head: number,
  signal?: AbortSignal,
): Promise<LoggedEvent[]> {
  const events: LoggedEvent[] = [];
  let after = Math.max(0, head - MAX_TIMELINE_EVENTS);
  try {
    after = Math.max(after, (await store.firstRetainedSeq(sessionId)) - 1);
    while (after < head) {
      if (signal?.aborted) break;
      const page = await store.readEvents(sessionId, after, Math.min(PAGE, head - after));
      if (page.length === 0) break;
      for (const e of page) if (e.seq <= head) events.push(e);
      after = page.at(-1)!.seq;
    }
  } catch (err) {
    throw storeUnavailable(err);
  }
  return events;
}

export function buildReviewExport(
  r: CapturedReview,
  events: readonly LoggedEvent[],
  now: number,
): ReviewExport {
  return {
    sessionId: r.sessionId,
    exportedAt: iso(now),
    headSequence: r.headSequence,
    files: reviewFiles(r.files, r.viewed),
    threads: threadsOf(r.comments, events),
    verdicts: r.verdicts.map(verdictOf),
    participants: participantsOf(r, events),
    timeline: timelineOf(events),
  };
}

function verdictOf(v: VerdictView): Verdict {
  return {
    reviewer: v.reviewer,
    verdict: v.verdict,
    at: iso(v.at),
    ...(v.message ? { message: v.message } : {}),
  };
}

function reviewFiles(files: readonly FileView[], viewed: readonly ViewedView[]): ReviewFile[] {
  return files.map((f) => {
    const base = f.base ?? { text: '' };
    return {
      path: f.path,
      ...(base.previousPath ? { previousPath: base.previousPath } : {}),
      ...(base.change ? { change: base.change } : {}),
      baseText: base.text,
      headText: f.text,
      version: f.version,
      // A mark made at an earlier version was reset by the change since.
      viewedBy: viewed
        .filter((m) => m.path === f.path && m.version === f.version)
        .map((m) => ({ userId: m.userId, at: iso(m.at) })),
    };
  });
}

function threadsOf(comments: readonly CommentView[], events: readonly LoggedEvent[]): ReviewThread[] {
  // Who last resolved each thread, and when each comment's text was last edited, from the log (a
  // record's updatedAt also moves when its thread is resolved or reopened).
  const resolved = new Map<string, { by: string; at: number }>();
  const edited = new Map<string, number>();
  for (const e of events) {
    const c = e.change;
    if (c.kind === 'suggestion_applied') resolved.set(c.commentId, { by: c.appliedBy, at: c.appliedAt });
    if (c.kind !== 'comment') continue;
    const root = c.comment.parentId || c.comment.id;
    if (c.action === 'resolve') resolved.set(root, { by: e.origin.userId, at: e.at });
    if (c.action === 'reopen') resolved.delete(root);
    if (c.action === 'edit') edited.set(c.comment.id, c.comment.updatedAt);
  }
  const updatedAt = (c: CommentView) => iso(edited.get(c.id) ?? c.createdAt);
  const replies = new Map<string, CommentView[]>();
  for (const c of comments) {
    if (!c.parentId) continue;
    const list = replies.get(c.parentId);
    if (list) list.push(c);
    else replies.set(c.parentId, [c]);
  }
  return comments
    .filter((c) => !c.parentId)
    .map((c): ReviewThread => {
      const by = c.state === 'resolved' ? resolved.get(c.id) : undefined;
      const s = c.suggestion;
      const status = c.suggestionStatus;
      return {
        id: c.id,
        path: c.path,
        side: c.side === 'base' ? 'base' : 'head',
        line: c.line,
        originalLineText: c.originalLineText,
        state: c.state,
        outdated: c.outdated,
        ...(by ? { resolvedBy: by.by, resolvedAt: iso(by.at) } : {}),
        author: c.authorId,
        createdAt: iso(c.createdAt),
        updatedAt: updatedAt(c),
        text: c.text,
        replies: (replies.get(c.id) ?? []).map((r) => ({
          id: r.id,
          author: r.authorId,
          createdAt: iso(r.createdAt),
          updatedAt: updatedAt(r),
          text: r.text,
        })),
        ...(s && status
          ? {
              suggestion: {
                startLine: s.startLine,
                endLine: s.endLine,
                originalText: s.originalText,
                replacement: s.replacement,
                status: status.status,
                ...(c.appliedBy ? { appliedBy: c.appliedBy } : {}),
                ...(c.appliedAt !== undefined ? { appliedAt: iso(c.appliedAt) } : {}),
                ...(status.status === 'conflicting' && status.message ? { conflict: status.message } : {}),
              },
            }
          : {}),
      };
    });
}

/** Everyone who is here or did anything in the review, with their names and roles when known. */
function participantsOf(r: CapturedReview, events: readonly LoggedEvent[]): Participant[] {
  const people = new Map<string, Participant>();
  const add = (userId: string, displayName = userId, role?: Role) => {
    const known = people.get(userId);
    const p = known ?? { userId, displayName };
    if (!known || known.displayName === userId) p.displayName = displayName;
    if (role && !p.roles?.includes(role)) p.roles = [...(p.roles ?? []), role].sort();
    people.set(userId, p);
  };
  for (const p of r.present) add(p.userId, p.displayName || p.userId, p.role);
  for (const e of events) add(e.origin.userId);
  for (const c of r.comments) add(c.authorId);
  for (const v of r.verdicts) add(v.reviewer);
  return [...people.values()];
}

function timelineOf(events: readonly LoggedEvent[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  /** Runs of edits by one user to one file while only edits happen. */
  const edits = new Map<string, { entry: TimelineEntry; count: number; from: number; to: number }>();
  /** A run of files opened by one call. */
  let opened: { entry: TimelineEntry; key: string; count: number } | undefined;
  const closeEdits = () => {
    for (const run of edits.values()) {
      const lines = run.from === run.to ? `line ${run.from}` : `lines ${run.from}-${run.to}`;
      run.entry.summary = `edited ${lines}` + (run.count > 1 ? ` (${run.count} edits)` : '');
      entries.push(run.entry);
    }
    edits.clear();
  };
  const closeOpened = () => {
    if (!opened) return;
    const { entry, count } = opened;
    if (entry.kind === 'review_opened')
      entry.summary = `opened the review with ${count} file${count === 1 ? '' : 's'}`;
    else if (count > 1) {
      delete entry.path;
      entry.summary = `opened ${count} files`;
    }
    entries.push(entry);
    opened = undefined;
  };
  for (const e of events) {
    const c = e.change;
    const at = iso(e.at);
    const userId = e.origin.userId;
    if (c.kind === 'edit') {
      closeOpened();
      const key = `${userId}\u0000${c.path}`;
      const to = c.line + (c.lineText.match(/\n/g)?.length ?? 0);
      const run = edits.get(key);
      if (run) {
        run.count++;
        run.from = Math.min(run.from, c.line);
        run.to = Math.max(run.to, to);
        run.entry.sequence = e.seq;
        run.entry.at = at;
      } else {
        const entry: TimelineEntry = { sequence: e.seq, at, userId, kind: 'edit', path: c.path, summary: '' };
        edits.set(key, { entry, count: 1, from: c.line, to });
      }
      continue;
    }
    closeEdits();
    if (c.kind === 'file_opened') {
      const key = `${userId}\u0000${e.origin.clientMessageId.replace(/#\d+$/, '') || e.seq}`;
      if (opened && opened.key === key) {
        opened.count++;
        opened.entry.sequence = e.seq;
        opened.entry.at = at;
        continue;
      }
      closeOpened();
      const first = entries.length === 0 && e.seq === 1;
      opened = {
        key,
        count: 1,
        entry: first
          ? { sequence: e.seq, at, userId, kind: 'review_opened', summary: '' }
          : { sequence: e.seq, at, userId, kind: 'file_opened', path: c.path, summary: 'opened the file' },
      };
      continue;
    }
    closeOpened();
    const entry = entryOf(e);
    if (entry) entries.push(entry);
  }
  closeEdits();
  closeOpened();
  return entries.sort((a, b) => a.sequence - b.sequence);
}

const VERDICT_SUMMARY = {
  approve: 'approved',
  request_changes: 'requested changes',
  comment: 'commented without a verdict',
} as const;

function entryOf(e: LoggedEvent): TimelineEntry | undefined {
  const c = e.change;
  const base = { sequence: e.seq, at: iso(e.at), userId: e.origin.userId };
  switch (c.kind) {
    case 'comment': {
      const x = c.comment;
      const path = x.path ? { path: x.path } : {};
      const root = x.parentId || x.id;
      switch (c.action) {
        case 'create': {
          const s = x.suggestion;
          const summary = s
            ? `suggested a change to ${s.startLine === s.endLine ? `line ${s.startLine}` : `lines ${s.startLine}-${s.endLine}`}`
            : x.side === 'base'
              ? `commented on base line ${x.fixedLine}`
              : !x.path
                ? 'commented on the review'
                : `commented on line ${c.line}`;
          return { ...base, kind: 'comment', ...path, summary };
        }
        case 'reply':
          return { ...base, kind: 'reply', ...path, summary: `replied to ${root}` };
        case 'edit':
          return { ...base, kind: 'comment_edited', ...path, summary: `edited comment ${x.id}` };
        case 'resolve':
          return { ...base, kind: 'resolved', ...path, summary: `resolved ${root}` };
        case 'reopen':
          return { ...base, kind: 'reopened', ...path, summary: `reopened ${root}` };
      }
      return undefined;
    }
    case 'suggestion_applied':
      return {
        ...base,
        kind: 'suggestion_applied',
        path: c.path,
        summary:
          c.suggestionAuthorId === c.appliedBy
            ? `applied the suggestion of ${c.commentId}`
            : `applied the suggestion of ${c.commentId} by ${c.suggestionAuthorId}`,
      };
    case 'verdict':
      return { ...base, kind: 'verdict', summary: VERDICT_SUMMARY[c.verdict] };
    case 'viewed':
      return {
        ...base,
        kind: 'viewed',
        path: c.path,
        summary: c.viewed ? 'marked the file viewed' : 'marked the file not viewed',
      };
    default:
      return undefined;
  }
}
