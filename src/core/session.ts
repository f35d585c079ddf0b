// A session: its files, comments, participants and ordered log, and the one place where its
// events are committed. Everything that reads or changes durable state runs through the session's
// mailbox, one task at a time, so the in-memory state only ever runs ahead of the log while a batch
// is being committed — and nothing of that batch is visible to anyone until the commit succeeds.
//
// The op pipeline (durable commands) reads as its steps:
//   validate -> authorize -> deduplicate -> transform -> apply -> commit -> publish -> ack
// Consecutive durable commands are committed together (one store append: group commit).
import type { Clock } from './clock.js';
import { CommentBook } from './comments.js';
import { FileDocument } from './document.js';
import {
  LiveReviewError,
  asLiveReviewError,
  invalidMessage,
  storeUnavailable,
  type QuotaViolation,
} from './errors.js';
import type {
  AckView,
  CommentCommand,
  CommentRecord,
  CommentView,
  CursorCommand,
  CursorView,
  DurableChange,
  DurableCommand,
  EditCommand,
  FileView,
  LoggedEvent,
  Origin,
  Outbound,
  ParticipantView,
  PresenceStatus,
  WelcomeView,
} from './model.js';
import { Participant } from './participant.js';
import { buildSnapshotChunks } from './snapshot.js';
import type { Store } from './store.js';
import { checkLine, checkPath, checkVersion, LIMITS } from './validate.js';
import { lineCount, lineRange, offsetOf, positionOf, replaceLineOp } from '../ot/lines.js';
import { checkOp, firstChangedOffset, stripInvertible, type TextOp } from '../ot/text.js';

export interface EngineConfig {
  /** Versions of history kept per file for transforming stale edits. */
  historyVersions: number;
  /** Save a snapshot every this many events, so loading never replays much. */
  snapshotEvery: number;
  /** A participant quiet for this long is shown IDLE. */
  idleAfterMs: number;
  maxParticipantsPerSession: number;
  /** Content characters per snapshot chunk. */
  snapshotChunkChars: number;
  /** Events read from the store per step while a participant catches up. */
  catchUpBatch: number;
  /** Most commands committed in one append. */
  maxBatch: number;
  /** Retries of a batch that lost an optimistic append race. */
  commitRetries: number;
  /** Recent client message ids remembered per session (older ones are looked up in the store). */
  dedupeWindow: number;
  /** Presence changes within this window after one was sent go out together (0: each at once). */
  presenceBatchMs: number;
}

/** Observation points for metrics and logs; all optional, none may throw. */
export interface EngineHooks {
  committed?(sessionId: string, events: number, durationMs: number): void;
  published?(event: LoggedEvent, recipients: number): void;
  storeFailed?(sessionId: string, err: unknown): void;
}

export interface SessionDeps {
  store: Store;
  clock: Clock;
  config: EngineConfig;
  hooks: EngineHooks;
}

interface DurableTask {
  kind: 'durable';
  from: Participant | undefined;
  origin: Origin;
  command: DurableCommand;
  signal: AbortSignal | undefined;
  resolve(ack: AckView): void;
  reject(err: LiveReviewError): void;
}

interface RunTask {
  kind: 'run';
  run(): unknown;
  signal: AbortSignal | undefined;
  resolve(value: unknown): void;
  reject(err: LiveReviewError): void;
}

type Task = DurableTask | RunTask;

type Outcome =
  | { task: DurableTask; event: LoggedEvent }
  | { task: DurableTask; ack: AckView }
  | { task: DurableTask; error: LiveReviewError };

const originKey = (o: Origin) => `${o.userId}\u0000${o.clientId}\u0000${o.clientMessageId}`;

function cancelledError(): LiveReviewError {
  return new LiveReviewError('CANCELLED', 'cancelled before it was processed');
}

export class Session {
  readonly files = new Map<string, FileDocument>();
  comments = new CommentBook();
  /** Last sequence number applied in memory. */
  head = 0;
  /** Last sequence number known durable. Equals head between batches. */
  committedHead = 0;
  readonly participants = new Map<string, Participant>();
  /** The duplicate ack of each recent client message, by origin: an ack, not the event, so the
   * window holds a small record per event rather than the event with its op and line text. */
  private recentOrigins = new Map<string, AckView>();
  /** Events from this sequence number on are all in recentOrigins. */
  private originHorizon = 1;
  private lastSnapshotSeq = 0;
  private readonly mailbox: Task[] = [];
  /** Presence changes not yet sent, latest state per participant (see broadcastPresence). */
  private pendingPresence = new Map<string, ParticipantView>();
  private presenceTimer: { cancel(): void } | undefined;
  private lastPresenceSentAt = -Infinity;
  private draining = false;
  /** When the session last had no participants (for eviction), or undefined. */
  emptySince: number | undefined;

  private constructor(
    readonly id: string,
    private readonly deps: SessionDeps,
  ) {}

  /** Loads a session from the store (an empty one when the store does not know it). */
  static async load(id: string, deps: SessionDeps): Promise<Session> {
    const session = new Session(id, deps);
    await session.loadFromStore();
    session.emptySince = deps.clock.now();
    return session;
  }

  get isEmpty(): boolean {
    return this.head === 0 && this.files.size === 0;
  }

  get idle(): boolean {
    return !this.draining && this.mailbox.length === 0;
  }

  // ---- loading and replay -------------------------------------------------------------------

  private async loadFromStore(): Promise<void> {
    const { store, config } = this.deps;
    this.files.clear();
    this.comments = new CommentBook();
    this.recentOrigins = new Map();
    this.head = 0;
    const loaded = await store.load(this.id, config.historyVersions);
    if (loaded?.snapshot) {
      for (const f of loaded.snapshot.files) {
        this.files.set(f.path, new FileDocument(f.path, f.text, f.version, config.historyVersions));
      }
      for (const c of loaded.snapshot.comments) this.comments.add({ ...c });
      this.head = loaded.snapshot.seq;
    }
    this.lastSnapshotSeq = this.head;
    this.originHorizon = this.head + 1;
    for (const event of loaded?.events ?? []) {
      if (event.seq !== this.head + 1) {
        throw new LiveReviewError(
          'INTERNAL',
          `session ${this.id}: log gap at ${this.head + 1} (found ${event.seq})`,
        );
      }
      this.applyChange(event.change);
      this.head = event.seq;
      this.remember(event);
    }
    this.committedHead = this.head;
  }

  /** Applies a committed (or about-to-be-committed) change to the in-memory state. Replay and the
   * live pipeline share this, so a reloaded session is exactly the one that was running. */
  private applyChange(change: DurableChange): void {
    switch (change.kind) {
      case 'edit': {
        let doc = this.files.get(change.path);
        if (!doc) {
          doc = new FileDocument(change.path, '', 0, this.deps.config.historyVersions);
          this.files.set(change.path, doc);
        }
        if (doc.version !== change.version - 1) {
          throw new LiveReviewError(
            'INTERNAL',
            `${change.path}: edit to version ${change.version} on version ${doc.version}`,
          );
        }
        doc.apply(change.op);
        this.comments.onEdit(change.path, change.op);
        for (const p of this.participants.values()) {
          if (p.cursor?.path === change.path) {
            p.cursor.offset = doc.rebasePosition(p.cursor.offset, doc.version - 1, false);
          }
        }
        return;
      }
      case 'comment': {
        const c = change.comment;
        if (change.action === 'create' || change.action === 'reply') {
          this.comments.add({ ...c });
        } else {
          const existing = this.comments.get(c.id);
          existing.text = c.text;
          existing.state = c.state;
          existing.updatedAt = c.updatedAt;
        }
        return;
      }
      case 'file_opened':
        this.files.set(
          change.path,
          new FileDocument(change.path, change.text, change.version, this.deps.config.historyVersions),
        );
        return;
    }
  }

  private remember(event: LoggedEvent): void {
    if (!event.origin.clientMessageId) return;
    this.recentOrigins.set(originKey(event.origin), this.ackOf(event, true));
    if (this.recentOrigins.size > this.deps.config.dedupeWindow) {
      const oldest = this.recentOrigins.keys().next().value as string;
      const evicted = this.recentOrigins.get(oldest)!;
      this.recentOrigins.delete(oldest);
      this.originHorizon = Math.max(this.originHorizon, evicted.sequence + 1);
    }
  }

  // ---- the mailbox ------------------------------------------------------------------------------

  /** Submits a durable command (edit, comment, opened file). Resolves with its ack once durable. */
  submit(
    from: Participant | undefined,
    origin: Origin,
    command: DurableCommand,
    signal?: AbortSignal,
  ): Promise<AckView> {
    return new Promise((resolve, reject) => {
      this.enqueue({ kind: 'durable', from, origin, command, signal, resolve, reject });
    });
  }

  /** Runs `fn` with the session's committed state, between batches. */
  run<T>(fn: () => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: 'run', run: fn, signal, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private enqueue(task: Task): void {
    this.mailbox.push(task);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.mailbox.length > 0) {
        if (this.mailbox[0]!.kind === 'durable') {
          const batch: DurableTask[] = [];
          while (batch.length < this.deps.config.maxBatch && this.mailbox[0]?.kind === 'durable') {
            batch.push(this.mailbox.shift() as DurableTask);
          }
          await this.commitBatch(batch);
        } else {
          const task = this.mailbox.shift() as RunTask;
          if (task.signal?.aborted) {
            task.reject(cancelledError());
            continue;
          }
          try {
            task.resolve(await task.run());
          } catch (err) {
            task.reject(asLiveReviewError(err));
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  // ---- the op pipeline ----------------------------------------------------------------------------

  private async commitBatch(tasks: DurableTask[]): Promise<void> {
    const { store, config, clock, hooks } = this.deps;
    for (let attempt = 0; ; attempt++) {
      const outcomes: Outcome[] = [];
      const events: LoggedEvent[] = [];
      for (const task of tasks) {
        if (task.signal?.aborted) {
          outcomes.push({ task, error: cancelledError() });
          continue;
        }
        try {
          const earlier = await this.findCommitted(task.origin);
          if (earlier) {
            outcomes.push({ task, ack: earlier });
            continue;
          }
          const change = this.prepare(task.origin, task.command);
          this.applyChange(change);
          const event: LoggedEvent = Object.freeze({
            sessionId: this.id,
            seq: this.head + 1,
            at: clock.now(),
            origin: task.origin,
            change: this.describe(change),
          });
          this.head = event.seq;
          this.remember(event);
          events.push(event);
          outcomes.push({ task, event });
        } catch (err) {
          outcomes.push({ task, error: asLiveReviewError(err) });
        }
      }
      if (events.length > 0) {
        const started = clock.now();
        let conflict = false;
        try {
          const result = await store.append(this.id, this.committedHead, events);
          conflict = !result.ok;
        } catch (err) {
          hooks.storeFailed?.(this.id, err);
          await this.recoverFromFailedCommit();
          this.settle(outcomes.map((o) => this.failIfUncommitted(o, storeUnavailable(err))));
          return;
        }
        if (conflict) {
          await this.recoverFromFailedCommit();
          if (attempt < config.commitRetries) continue;
          const err = storeUnavailable(new Error('the log kept changing under concurrent appends'));
          this.settle(outcomes.map((o) => this.failIfUncommitted(o, err)));
          return;
        }
        this.committedHead = this.head;
        hooks.committed?.(this.id, events.length, clock.now() - started);
      }
      this.settle(outcomes);
      await this.maybeSnapshot();
      return;
    }
  }

  /** After a failed append the in-memory state may hold uncommitted changes: reload what is durable. */
  private async recoverFromFailedCommit(): Promise<void> {
    try {
      await this.loadFromStore();
    } catch (err) {
      this.deps.hooks.storeFailed?.(this.id, err);
      // Keep serving the last committed head; the next commit will try (and fail) cleanly.
    }
  }

  private failIfUncommitted(o: Outcome, err: LiveReviewError): Outcome {
    if ('event' in o) return { task: o.task, error: err };
    if ('ack' in o && o.ack.sequence > this.committedHead) return { task: o.task, error: err };
    return o;
  }

  /** Publishes committed events to the other live participants and acks their senders, in order. */
  private settle(outcomes: Outcome[]): void {
    for (const o of outcomes) {
      const from = o.task.from;
      if ('error' in o) {
        // The transport reports the error to its sender (it reports every refusal the same way).
        o.task.reject(o.error);
        continue;
      }
      if ('event' in o) this.publish(o.event, from);
      const ack = 'event' in o ? this.ackOf(o.event, false) : o.ack;
      if (from && !from.left) {
        if (from.live) {
          from.lastSeq = Math.max(from.lastSeq, ack.sequence);
          from.sink.send({ type: 'ack', sessionId: this.id, ack });
        }
        // A participant still catching up gets its ack in order from the log (see catchUp).
      }
      o.task.resolve(ack);
    }
  }

  private publish(event: LoggedEvent, except: Participant | undefined): void {
    const msg: Outbound = { type: 'event', event };
    let recipients = 0;
    for (const p of this.participants.values()) {
      if (p === except || !p.live) continue;
      p.lastSeq = event.seq;
      p.sink.send(msg);
      recipients++;
    }
    this.deps.hooks.published?.(event, recipients);
  }

  private ackOf(event: LoggedEvent, duplicate: boolean): AckView {
    const c = event.change;
    return {
      clientMessageId: event.origin.clientMessageId,
      sequence: event.seq,
      version: c.version,
      path: c.kind === 'comment' ? c.comment.path : c.path,
      commentId: c.kind === 'comment' ? c.comment.id : '',
      line: c.kind === 'comment' ? c.line : 0,
      duplicate,
    };
  }

  private async findCommitted(origin: Origin): Promise<AckView | undefined> {
    if (!origin.clientMessageId) return undefined;
    const recent = this.recentOrigins.get(originKey(origin));
    if (recent) return recent;
    if (this.originHorizon <= 1) return undefined;
    const event = await this.deps.store.findByOrigin(this.id, origin);
    return event && this.ackOf(event, true);
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.committedHead - this.lastSnapshotSeq < this.deps.config.snapshotEvery) return;
    const seq = this.committedHead;
    try {
      await this.deps.store.saveSnapshot(this.id, {
        seq,
        files: this.fileViews(),
        comments: [...this.comments.all()].map((c) => ({ ...c })),
      });
      this.lastSnapshotSeq = seq;
    } catch (err) {
      // A missing snapshot only makes the next load replay more; the log is intact.
      this.deps.hooks.storeFailed?.(this.id, err);
    }
  }

  // validate -> authorize -> transform: turns a command into the change to commit.
  private prepare(origin: Origin, command: DurableCommand): DurableChange {
    switch (command.kind) {
      case 'edit':
        return this.prepareEdit(command);
      case 'comment':
        return this.prepareComment(origin, command);
      case 'open_file':
        return this.prepareOpenFile(command.path, command.text);
    }
  }

  private prepareEdit(cmd: EditCommand): DurableChange {
    checkPath('edit.file_path', cmd.path);
    checkVersion('edit.version', cmd.baseVersion);
    let doc = this.files.get(cmd.path);
    if (!doc) {
      if (cmd.baseVersion !== 0) {
        throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(cmd.path)} in this session`);
      }
      // The first edit of a file creates it, empty at version 0 (applyChange adds it on commit).
      doc = new FileDocument(cmd.path, '', 0, this.deps.config.historyVersions);
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
      op = this.lineEditOp(doc, cmd.baseVersion, cmd.line, cmd.content);
    }
    const rebased = stripInvertible(doc.rebase(op, cmd.baseVersion));
    return { kind: 'edit', path: cmd.path, version: doc.version + 1, op: rebased, line: 0, lineText: '' };
  }

  /** The seed's line edit as an op: replace line N (its content, not its terminator) at a version;
   * line count + 1 appends a line. */
  private lineEditOp(doc: FileDocument, baseVersion: number, line: number, content: string): TextOp {
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

  private resolveCommentPath(path: string): FileDocument {
    if (path) {
      checkPath('comment.file_path', path);
      const doc = this.files.get(path);
      if (!doc)
        throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(path)} in this session`);
      return doc;
    }
    if (this.files.size === 1) return this.files.values().next().value as FileDocument;
    if (this.files.size === 0)
      throw new LiveReviewError('FILE_NOT_FOUND', 'the session has no file to comment on');
    throw new LiveReviewError('FILE_REQUIRED', 'the session has several files: set comment.file_path', {
      fieldViolations: [
        { field: 'comment.file_path', description: 'required when the session has several files' },
      ],
    });
  }

  private prepareComment(origin: Origin, cmd: CommentCommand): DurableChange {
    const now = this.deps.clock.now();
    const action =
      cmd.action ??
      (cmd.commentId && this.comments.has(cmd.commentId) ? 'edit' : cmd.parentId ? 'reply' : 'create');
    if (cmd.text.length > LIMITS.commentTextLength) {
      throw invalidMessage('comment.text', `is longer than ${LIMITS.commentTextLength} characters`);
    }
    switch (action) {
      case 'create': {
        if (!cmd.text) throw invalidMessage('comment.text', 'is required');
        const id = cmd.commentId || `c${this.head + 1}`;
        if (this.comments.has(id)) {
          throw new LiveReviewError('COMMENT_EXISTS', `comment ${JSON.stringify(id)} exists`);
        }
        const doc = this.resolveCommentPath(cmd.path);
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
        const root = this.comments.root(this.comments.get(cmd.parentId));
        const id = cmd.commentId || `c${this.head + 1}`;
        if (this.comments.has(id)) {
          throw new LiveReviewError('COMMENT_EXISTS', `comment ${JSON.stringify(id)} exists`);
        }
        const comment: CommentRecord = {
          ...root,
          id,
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
        const existing = this.comments.get(cmd.commentId);
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
        const root = this.comments.root(this.comments.get(cmd.commentId));
        const state = action === 'resolve' ? 'resolved' : 'open';
        return { kind: 'comment', action, comment: { ...root, state, updatedAt: now }, line: 0, version: 0 };
      }
    }
  }

  private prepareOpenFile(path: string, text: string): DurableChange {
    checkPath('files.path', path);
    if (this.files.has(path)) {
      throw new LiveReviewError('FILE_EXISTS', `${path} is already open in this session`, {
        metadata: { path },
      });
    }
    return { kind: 'file_opened', path, version: 0, text };
  }

  /** Completes a change after it was applied with what only the new state tells (affected line,
   * a comment's current line), then freezes it. */
  private describe(change: DurableChange): DurableChange {
    if (change.kind === 'edit') {
      const doc = this.files.get(change.path)!;
      const offset = firstChangedOffset(change.op) ?? 0;
      const { line, text } = doc.lineAt(offset);
      return Object.freeze({ ...change, line, lineText: text });
    }
    if (change.kind === 'comment') {
      const doc = this.files.get(change.comment.path);
      const view = doc && this.comments.view(this.comments.get(change.comment.id), doc.text, doc.version);
      return Object.freeze({
        ...change,
        comment: Object.freeze({ ...this.comments.get(change.comment.id) }),
        line: view?.line ?? 0,
        version: doc?.version ?? 0,
      });
    }
    return Object.freeze(change);
  }

  // ---- participants ---------------------------------------------------------------------------

  /** Adds a participant and brings it up to date: a snapshot, or the events after its resume
   * position, then live events. Runs between batches so the snapshot is exactly the committed state. */
  join(p: Participant, resumeAfter: number | undefined): Promise<WelcomeView> {
    return this.run(async () => {
      if (p.left) throw new LiveReviewError('CANCELLED', 'left before the join was handled');
      const { config } = this.deps;
      if (this.participants.size >= config.maxParticipantsPerSession) {
        const violation: QuotaViolation = {
          subject: `session:${this.id}`,
          description: `at most ${config.maxParticipantsPerSession} participants per session`,
        };
        throw new LiveReviewError('SESSION_FULL', violation.description, {
          quotaViolations: [violation],
          retryAfterMs: 5000,
        });
      }
      const previous = this.participants.get(p.id);
      if (previous) {
        previous.sink.close(
          new LiveReviewError('SUPERSEDED', `client ${p.id} joined again on another stream`),
        );
        this.leave(previous);
      }
      let sync: WelcomeView['sync'] = 'snapshot';
      let syncReason = '';
      if (resumeAfter !== undefined) {
        const firstRetained = await this.deps.store.firstRetainedSeq(this.id).catch((err: unknown) => {
          throw storeUnavailable(err);
        });
        if (resumeAfter > this.committedHead) {
          syncReason = `resume position ${resumeAfter} is ahead of the session (at ${this.committedHead})`;
        } else if (resumeAfter + 1 < firstRetained) {
          syncReason = `resume position ${resumeAfter} is no longer retained (oldest ${firstRetained})`;
        } else {
          sync = 'resume';
        }
      }
      this.participants.set(p.id, p);
      this.emptySince = undefined;
      this.broadcastPresence(p);
      const welcome: WelcomeView = {
        participantId: p.id,
        headSequence: this.committedHead,
        sync,
        syncReason,
        roster: [...this.participants.values()].map((q) => q.view()),
        cursors: this.cursorViews(),
      };
      p.sink.send({ type: 'welcome', sessionId: this.id, welcome });
      if (sync === 'snapshot') {
        const chunks = buildSnapshotChunks(
          this.committedHead,
          this.fileViews(),
          this.commentViews(true),
          config.snapshotChunkChars,
        );
        for (const chunk of chunks) p.sink.send({ type: 'snapshot', sessionId: this.id, chunk });
        p.lastSeq = this.committedHead;
      } else {
        p.lastSeq = resumeAfter!;
      }
      void this.catchUp(p);
      return welcome;
    });
  }

  /** Sends a participant the logged events it has not seen, paced by its sink, until it has caught
   * up with the committed head; from then on it receives events live. */
  private async catchUp(p: Participant): Promise<void> {
    const { store, config } = this.deps;
    try {
      while (!p.left && !p.sink.closed) {
        if (p.lastSeq >= this.committedHead) {
          p.live = true;
          return;
        }
        await p.sink.ready();
        if (p.left || p.sink.closed) return;
        const events = await store
          .readEvents(this.id, p.lastSeq, config.catchUpBatch)
          .catch((err: unknown) => {
            throw storeUnavailable(err);
          });
        if (events.length === 0) {
          throw new LiveReviewError('INTERNAL', `log of ${this.id} ends before ${this.committedHead}`);
        }
        for (const event of events) {
          if (event.seq <= p.lastSeq) continue;
          p.lastSeq = event.seq;
          if (event.origin.clientId === p.clientId && event.origin.clientMessageId) {
            // Its own event, whose ack it may have missed: an ack, not an echo.
            p.sink.send({ type: 'ack', sessionId: this.id, ack: this.ackOf(event, false) });
          } else {
            p.sink.send({ type: 'event', event });
          }
        }
      }
    } catch (err) {
      p.sink.close(asLiveReviewError(err));
    }
  }

  /** Removes a participant (stream ended, cancelled, cut off): LEFT to the others. */
  leave(p: Participant): void {
    if (p.left) return;
    p.left = true;
    if (this.participants.get(p.id) !== p) return;
    this.participants.delete(p.id);
    p.status = 'left';
    this.broadcastPresence(p);
    if (this.participants.size === 0) this.emptySince = this.deps.clock.now();
  }

  /** Records activity; a participant shown IDLE becomes ACTIVE again. */
  touch(p: Participant): void {
    p.lastActiveAt = this.deps.clock.now();
    if (p.status === 'idle') this.setPresence(p, 'active');
  }

  setPresence(p: Participant, status: Exclude<PresenceStatus, 'left'>): void {
    if (p.left || p.status === status) return;
    p.status = status;
    this.broadcastPresence(p);
  }

  /** Marks participants quiet for longer than idleAfterMs as IDLE. */
  sweepIdle(now: number): void {
    for (const p of this.participants.values()) {
      if (
        (p.status === 'active' || p.status === 'joined') &&
        now - p.lastActiveAt >= this.deps.config.idleAfterMs
      ) {
        this.setPresence(p, 'idle');
      }
    }
  }

  /**
   * Tells the others of a presence change. The first change after a quiet window goes out at once;
   * changes within presenceBatchMs of the last sending wait for the window's end and go out
   * together, each participant once in its latest state. A burst of N joins (a server restart, a
   * session starting) then costs a few roster updates per peer instead of N messages each.
   */
  private broadcastPresence(p: Participant): void {
    this.pendingPresence.set(p.id, p.view());
    if (this.presenceTimer) return;
    const { clock, config } = this.deps;
    const wait = this.lastPresenceSentAt + config.presenceBatchMs - clock.now();
    if (wait <= 0) {
      this.flushPresence();
      return;
    }
    this.presenceTimer = clock.setTimeout(() => {
      this.presenceTimer = undefined;
      this.flushPresence();
    }, wait);
  }

  private flushPresence(): void {
    const changed = [...this.pendingPresence.values()];
    const changedIds = new Set(this.pendingPresence.keys());
    this.pendingPresence.clear();
    if (changed.length === 0) return;
    const at = this.deps.clock.now();
    this.lastPresenceSentAt = at;
    // One message object per distinct content, so each is encoded once whoever receives it.
    const single = new Map<string, Outbound>();
    const singleFor = (v: ParticipantView): Outbound => {
      let msg = single.get(v.participantId);
      if (!msg)
        single.set(v.participantId, (msg = { type: 'presence', sessionId: this.id, participant: v, at }));
      return msg;
    };
    const everyone: Outbound = { type: 'roster', sessionId: this.id, participants: changed, at };
    for (const q of this.participants.values()) {
      if (!q.live) continue;
      const own = changedIds.has(q.id);
      if (q.acceptsRosterUpdates) {
        if (!own) q.sink.send(everyone);
        else if (changed.length > 1) {
          const others = changed.filter((v) => v.participantId !== q.id);
          q.sink.send({ type: 'roster', sessionId: this.id, participants: others, at });
        }
      } else {
        for (const v of changed) if (v.participantId !== q.id) q.sink.send(singleFor(v));
      }
    }
  }

  /** Stops the presence timer (the session is being dropped). */
  dispose(): void {
    this.presenceTimer?.cancel();
    this.presenceTimer = undefined;
    this.pendingPresence.clear();
  }

  /** Moves a participant's cursor (ephemeral: not logged) and tells the others. */
  moveCursor(p: Participant, cmd: CursorCommand): Promise<AckView> {
    return this.run(() => {
      checkPath('cursor.file_path', cmd.path);
      const doc = this.files.get(cmd.path);
      if (!doc)
        throw new LiveReviewError('FILE_NOT_FOUND', `no file ${JSON.stringify(cmd.path)} in this session`);
      const version = cmd.version ?? doc.version;
      checkVersion('cursor.version', version);
      checkLine('cursor.line', cmd.line);
      const text = version === doc.version ? doc.text : doc.textAt(version);
      const offset = offsetOf(text, cmd.line, cmd.column);
      if (offset === undefined) {
        throw new LiveReviewError('LINE_OUT_OF_RANGE', `${cmd.path}: line ${cmd.line} does not exist`, {
          fieldViolations: [{ field: 'cursor.line', description: 'no such line' }],
        });
      }
      p.cursor = { path: cmd.path, offset: doc.rebasePosition(offset, version, false) };
      const view = this.cursorView(p);
      if (view) {
        const msg: Outbound = { type: 'cursor', sessionId: this.id, cursor: view, at: this.deps.clock.now() };
        for (const q of this.participants.values()) if (q !== p && q.live) q.sink.send(msg);
      }
      return {
        clientMessageId: '',
        sequence: 0,
        version: doc.version,
        path: cmd.path,
        commentId: '',
        line: 0,
        duplicate: false,
      };
    });
  }

  // ---- views --------------------------------------------------------------------------------------

  fileViews(): FileView[] {
    return [...this.files.values()].map((d) => ({ path: d.path, version: d.version, text: d.text }));
  }

  commentViews(includeResolved: boolean, path = ''): CommentView[] {
    const views: CommentView[] = [];
    for (const c of this.comments.all()) {
      if (path && c.path !== path) continue;
      if (!includeResolved && this.comments.root(c).state === 'resolved') continue;
      const doc = this.files.get(c.path);
      if (doc) views.push(this.comments.view(c, doc.text, doc.version));
    }
    return views;
  }

  private cursorView(p: Participant): CursorView | undefined {
    if (!p.cursor) return undefined;
    const doc = this.files.get(p.cursor.path);
    if (!doc) return undefined;
    const { line, column } = positionOf(doc.text, p.cursor.offset);
    return { participantId: p.id, userId: p.userId, path: doc.path, line, column, version: doc.version };
  }

  cursorViews(): CursorView[] {
    const views: CursorView[] = [];
    for (const p of this.participants.values()) {
      const v = this.cursorView(p);
      if (v) views.push(v);
    }
    return views;
  }
}
