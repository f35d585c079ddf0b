// The engine: every session of this process, loaded on demand and evicted when nobody is in them.
// It is what transports talk to; it knows nothing of gRPC, HTTP or any database driver.
import type { Bus } from './bus.js';
import type { Clock } from './clock.js';
import type { ForwardedCommand, ForwardOutcome } from './bus-messages.js';
import {
  LiveReviewError,
  asLiveReviewError,
  invalidMessage,
  isLiveReviewError,
  rateLimited,
  storeUnavailable,
} from './errors.js';
import { RateLimiter } from './rate-limit.js';
import { authorize, type Action, type Role } from './roles.js';
import type {
  AckView,
  Command,
  CommentView,
  CursorView,
  DurableCommand,
  FileBase,
  FileView,
  Origin,
  ParticipantView,
  VerdictView,
  ViewedView,
  WelcomeView,
} from './model.js';
import { readPage, type PageRequest } from './pages.js';
import { fileAtFromLog, fileAtFromMemory, type FileAt } from './file-history.js';
import { buildReviewExport, captureReview, readTimelineEvents, summarizeCaptured } from './review-export.js';
import type { ReviewExport } from '../review/model.js';
import type { ReviewSummary } from '../review/summary.js';
import type { SessionState as LiveState } from './session-state.js';
import { Participant, type ParticipantSink } from './participant.js';
import { Replicator } from './replicator.js';
import { Session, type EngineConfig, type EngineHooks } from './session.js';
import type { Store } from './store.js';
import { checkClientMessageId, checkId, checkPath, LIMITS } from './validate.js';

export type { EngineConfig, EngineHooks } from './session.js';

export interface EngineOptions {
  store: Store;
  clock: Clock;
  config: EngineConfig & {
    /** Evict a session from memory once it has had no participants for this long. */
    evictAfterMs: number;
    /** Sessions held in memory at most (0: no limit). */
    maxSessions?: number;
    /** Messages per second per user and per session (0: no limit), with their bursts. */
    rateLimits?: { userPerSecond: number; userBurst: number; sessionPerSecond: number; sessionBurst: number };
  };
  hooks?: EngineHooks;
  /** This instance's id (in participant ids it makes up, logs, and the bus). */
  instanceId?: string;
  /** Cluster mode: the bus to the other instances sharing the store. */
  cluster?: {
    bus: Bus;
    heartbeatMs: number;
    expiryMs: number;
    pollMs: number;
    onError?(what: string, err: unknown): void;
  };
}

export interface JoinParams {
  sessionId: string;
  userId: string;
  /** Empty for clients that do not send one (seed clients): a participant id is generated. */
  clientId: string;
  displayName: string;
  resumeAfter: number | undefined;
  sink: ParticipantSink;
  /** The participant's role in the session (from its token; 'author' without authentication). */
  role?: Role;
  /** What the client said it understands in its join (e.g. "roster_updates"). */
  capabilities?: readonly string[];
  /** 'seed': joined the seed's way; everything it receives is in the seed's vocabulary. */
  vocabulary?: 'seed' | 'full';
}

/** The join capability for batched presence (RosterUpdate). */
export const ROSTER_UPDATES = 'roster_updates';
/** The join capability for edits without the changed lines' text (the client keeps the text). */
export const OPS_ONLY = 'ops_only';

/** The authorization action of a command. */
function actionOf(command: Command): Action {
  return command.kind;
}

/** A comment that names no file (a seed client's) is about the file its author's cursor is in. */
function withCursorFile(p: Participant, command: DurableCommand): DurableCommand {
  if (command.kind !== 'comment' || command.path || !p.cursor || !('offset' in p.cursor)) return command;
  return { ...command, path: p.cursor.path };
}

export interface SessionReadout {
  sessionId: string;
  headSequence: number;
  /** Files (or parts of a file, `continued` on the next page), comments: one page. */
  files: (FileView & { continued: boolean })[];
  comments: CommentView[];
  /** On the first page only. */
  roster: ParticipantView[];
  cursors: CursorView[];
  /** '' on the last page. */
  nextPageToken: string;
  /** Verdicts, viewed marks and where the review stands (on the first page). */
  review: ReviewOfSession | undefined;
}

/** Verdicts, viewed marks and where the review stands. */
export interface ReviewOfSession {
  verdicts: VerdictView[];
  viewed: ViewedView[];
  summary: ReviewSummary;
  files: number;
}

function reviewOfState(state: LiveState, files: FileView[], comments: CommentView[]): ReviewOfSession {
  const verdicts = state.review.verdictViews();
  const viewed = state.review.viewedViews();
  return {
    verdicts,
    viewed,
    summary: summarizeCaptured({ files, comments, verdicts, viewed }),
    files: files.length,
  };
}

function sameBase(base: FileBase, opened: { text: string; base?: FileBase }): boolean {
  const b = opened.base ?? { text: opened.text };
  return (
    base.text === b.text &&
    (base.previousPath ?? '') === (b.previousPath ?? '') &&
    (base.change ?? '') === (b.change ?? '')
  );
}

export class Engine {
  private readonly sessions = new Map<string, Promise<Session>>();
  /** The session each settled load of `sessions` gave (a session evicted from there is gone from
   * here too, as its promise is no longer reachable). */
  private readonly loaded = new WeakMap<Promise<Session>, Session>();
  private readonly sweeper: { cancel(): void };
  private nextAnonymous = 1;
  private closing = false;
  private readonly userLimiter: RateLimiter;
  private readonly sessionLimiter: RateLimiter;

  private readonly replicator: Replicator | undefined;
  /** Made-up participant ids carry this, so they are unique across instances. */
  private readonly idTag: string;

  constructor(private readonly options: EngineOptions) {
    this.idTag = (options.instanceId ?? '').slice(0, 8);
    const cluster = options.cluster;
    this.replicator = cluster
      ? new Replicator({
          instanceId: options.instanceId ?? 'instance',
          bus: cluster.bus,
          store: options.store,
          clock: options.clock,
          heartbeatMs: cluster.heartbeatMs,
          expiryMs: cluster.expiryMs,
          pollMs: cluster.pollMs,
          // Long enough for a commit under load, short enough that a batch sent to an instance
          // that just died waits less than that instance takes to be declared gone.
          forwardTimeoutMs: cluster.expiryMs / 2,
          commitForwarded: (sessionId, commands) => this.commitForwarded(sessionId, commands),
          onError: cluster.onError,
        })
      : undefined;
    const interval = Math.max(50, Math.min(options.config.idleAfterMs, options.config.evictAfterMs) / 4);
    this.sweeper = options.clock.setInterval(() => this.sweep(), interval);
    const r = options.config.rateLimits;
    this.userLimiter = new RateLimiter(r?.userPerSecond ?? 0, r?.userBurst ?? 0, options.clock);
    this.sessionLimiter = new RateLimiter(r?.sessionPerSecond ?? 0, r?.sessionBurst ?? 0, options.clock);
  }

  /** The authorize step and the rate limits, for every message a participant or caller sends. */
  private admit(sessionId: string, userId: string, role: Role, command: Command): void {
    authorize(role, actionOf(command), sessionId);
    const r = this.options.config.rateLimits;
    const userWait = this.userLimiter.take(userId);
    if (userWait > 0)
      throw rateLimited(`user:${userId}`, `${r!.userPerSecond} messages/s per user`, userWait);
    const sessionWait = this.sessionLimiter.take(sessionId);
    if (sessionWait > 0) {
      throw rateLimited(`session:${sessionId}`, `${r!.sessionPerSecond} messages/s per session`, sessionWait);
    }
  }

  /** Joins the cluster (when there is one): heartbeats, polls, the instances' topic. */
  async start(): Promise<void> {
    await this.replicator?.start();
  }

  /** Number of sessions held in memory. */
  get liveSessions(): number {
    return this.sessions.size;
  }

  private session(id: string): Promise<Session> {
    let pending = this.sessions.get(id);
    if (!pending) {
      const max = this.options.config.maxSessions ?? 0;
      if (max > 0 && this.sessions.size >= max) {
        return Promise.reject(
          new LiveReviewError('TOO_MANY_SESSIONS', `this server holds its maximum of ${max} sessions`, {
            quotaViolations: [{ subject: 'server', description: `at most ${max} sessions in memory` }],
            retryAfterMs: 5000,
          }),
        );
      }
      const replicator = this.replicator;
      pending = Session.load(id, {
        store: this.options.store,
        clock: this.options.clock,
        config: this.options.config,
        hooks: this.options.hooks ?? {},
        replication: replicator,
      })
        .then(async (session) => {
          await replicator?.attach(session);
          this.loaded.set(pending!, session);
          return session;
        })
        .catch((err: unknown) => {
          this.options.hooks?.storeFailed?.(id, err);
          throw isLiveReviewError(err) ? err : storeUnavailable(err);
        });
      this.sessions.set(id, pending);
      // A failed load must not stay cached: the next call tries again.
      pending.catch(() => this.sessions.delete(id));
    }
    return pending;
  }

  /** Commits commands another instance's participants sent to a session this instance commits
   * (Replicator.forward). Declined while shutting down or when the session cannot be held here:
   * the other instance commits them itself. */
  private async commitForwarded(
    sessionId: string,
    commands: ForwardedCommand[],
  ): Promise<ForwardOutcome[] | undefined> {
    if (this.closing) return undefined;
    let session: Session;
    try {
      checkId('session_id', sessionId);
      session = await this.session(sessionId);
    } catch {
      return undefined;
    }
    // Kept in memory while others commit through it, as while it has participants of its own.
    if (session.room.participants.size === 0) session.room.emptySince = this.options.clock.now();
    const results = await Promise.allSettled(
      commands.map(({ origin, command }) => session.submitForwarded(origin, command)),
    );
    return results.map((r) => {
      if (r.status === 'rejected') return { error: asLiveReviewError(r.reason) };
      return r.value.duplicate ? { ack: r.value } : null;
    });
  }

  /** A session that exists (has content or participants), or NOT_FOUND. */
  private async existingSession(id: string): Promise<Session> {
    checkId('session_id', id);
    const session = await this.session(id);
    // In a cluster another instance may have filled it since: look at the log before saying no.
    if (session.isEmpty && this.replicator) await session.read(() => undefined);
    if (session.isEmpty && session.room.participants.size === 0) {
      this.sessions.delete(id);
      this.replicator?.detach(id);
      throw new LiveReviewError('SESSION_NOT_FOUND', `no session ${JSON.stringify(id)}`);
    }
    return session;
  }

  async join(params: JoinParams): Promise<{ participant: Participant; welcome: WelcomeView }> {
    if (this.closing)
      throw new LiveReviewError('SERVER_SHUTTING_DOWN', 'server is shutting down', { retryAfterMs: 500 });
    const sessionId = checkId('session_id', params.sessionId);
    const userId = checkId('user_id', params.userId);
    checkId('join.client_id', params.clientId, false);
    if (params.displayName.length > LIMITS.displayNameLength) {
      throw new LiveReviewError('INVALID_JOIN', 'display_name is too long', {
        fieldViolations: [
          { field: 'join.display_name', description: `at most ${LIMITS.displayNameLength} characters` },
        ],
      });
    }
    const id = params.clientId || `${userId}#${this.idTag}${this.nextAnonymous++}`;
    const participant = new Participant(
      sessionId,
      id,
      userId,
      params.clientId || userId,
      params.displayName || userId,
      params.sink,
      this.options.clock.now(),
      params.role ?? 'author',
    );
    participant.acceptsRosterUpdates = params.capabilities?.includes(ROSTER_UPDATES) ?? false;
    participant.vocabulary = params.vocabulary ?? 'full';
    participant.namedClient = params.clientId !== '';
    const session = await this.session(sessionId);
    const welcome = await session.join(participant, params.resumeAfter);
    return { participant, welcome };
  }

  /** Handles a message of a joined participant. Durable commands resolve with their ack once
   * committed; the ack (or error) also reaches the participant's sink, in order. */
  submit(p: Participant, clientMessageId: string, command: Command): Promise<AckView> {
    // A loaded session (nearly every message) is used at once: awaiting its settled load cost two
    // turns of the microtask queue and three promises per message.
    const pending = this.sessions.get(p.sessionId);
    const loaded = pending && this.loaded.get(pending);
    if (!loaded)
      return this.session(p.sessionId).then((session) => this.submitTo(session, p, clientMessageId, command));
    try {
      return this.submitTo(loaded, p, clientMessageId, command);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private submitTo(
    session: Session,
    p: Participant,
    clientMessageId: string,
    command: Command,
  ): Promise<AckView> {
    session.room.touch(p);
    checkClientMessageId('client_message_id', clientMessageId);
    this.admit(p.sessionId, p.userId, p.role, command);
    switch (command.kind) {
      case 'cursor':
        return session.moveCursor(p, command);
      case 'presence':
        if (command.status === 'active' || command.status === 'idle')
          session.room.setPresence(p, command.status);
        return Promise.resolve({
          clientMessageId,
          sequence: 0,
          version: 0,
          path: '',
          commentId: '',
          line: 0,
          duplicate: false,
        });
      default: {
        const origin: Origin = { userId: p.userId, clientId: p.clientId, clientMessageId };
        return session.submit(p, origin, withCursorFile(p, command));
      }
    }
  }

  /** A command from the half-duplex Submit call (no stream of its own). */
  async submitUnary(
    sessionId: string,
    origin: Origin,
    command: Command,
    role: Role,
    signal?: AbortSignal,
  ): Promise<AckView> {
    checkId('message.session_id', sessionId);
    checkId('message.user_id', origin.userId);
    checkId('message.client_id', origin.clientId);
    checkClientMessageId('message.client_message_id', origin.clientMessageId);
    if (command.kind !== 'cursor' && command.kind !== 'presence')
      this.admit(sessionId, origin.userId, role, command);
    const session = await this.session(sessionId);
    const participant = session.room.participantOf(origin.userId, origin.clientId);
    if (command.kind === 'cursor' || command.kind === 'presence') {
      // Ephemeral traffic needs a participant to attach to: the client's Subscribe call.
      if (!participant) {
        throw new LiveReviewError(
          'SESSION_NOT_FOUND',
          `client ${JSON.stringify(origin.clientId)} has no Subscribe call open in ${JSON.stringify(sessionId)}`,
        );
      }
      return this.submit(participant, origin.clientMessageId, command);
    }
    if (participant) session.room.touch(participant);
    return session.submit(undefined, origin, command, signal);
  }

  leave(p: Participant): void {
    const pending = this.sessions.get(p.sessionId);
    if (!pending) return;
    void pending.then((s) => s.leave(p)).catch(() => undefined);
  }

  async openReview(
    sessionId: string,
    origin: Origin,
    files: { path: string; text: string; base?: FileBase }[],
    role: Role,
    signal?: AbortSignal,
  ): Promise<{ sequence: number; files: FileView[] }> {
    checkId('session_id', sessionId);
    checkId('user_id', origin.userId);
    checkClientMessageId('client_message_id', origin.clientMessageId);
    authorize(role, 'open_file', sessionId);
    const session = await this.session(sessionId);
    // One durable event per file, each idempotent under a derived client message id.
    const acks = await Promise.all(
      files.map((f, i) =>
        session
          .submit(
            undefined,
            { ...origin, clientMessageId: origin.clientMessageId ? `${origin.clientMessageId}#${i}` : '' },
            { kind: 'open_file', path: f.path, text: f.text, ...(f.base ? { base: f.base } : {}) },
            signal,
          )
          .catch((err: unknown) => {
            // Opening a file that is already open with the same texts is not an error.
            if (err instanceof LiveReviewError && err.reason === 'FILE_EXISTS') {
              const existing = session.state.files.get(f.path);
              const base = session.state.review.baseOf(f.path);
              if (existing && existing.version === 0 && existing.text === f.text && sameBase(base, f))
                return undefined;
            }
            throw err;
          }),
      ),
    );
    return session.read(() => {
      const paths = new Set(files.map((f) => f.path));
      return {
        sequence: Math.max(session.committedHead, ...acks.map((a) => a?.sequence ?? 0)),
        // Without their bases: the caller has them, and they would double the response.
        files: session.state
          .fileViews()
          .filter((f) => paths.has(f.path))
          .map(({ base: _base, ...f }) => f),
      };
    }, signal);
  }

  async getSession(sessionId: string, page: PageRequest, signal?: AbortSignal): Promise<SessionReadout> {
    const session = await this.existingSession(sessionId);
    return session.read(() => {
      const all = session.state.commentViews(true);
      const p = readPage(session.state, session.committedHead, page, {
        budgetChars: this.options.config.snapshotChunkChars,
        includeFiles: true,
        tokenField: 'page_token',
        comments: all,
        keep: () => true,
      });
      return {
        sessionId,
        headSequence: p.headSequence,
        files: p.files,
        comments: p.comments,
        roster: p.first ? session.room.roster() : [],
        cursors: p.first ? session.room.cursorViews() : [],
        nextPageToken: p.nextToken,
        review: p.first ? reviewOfState(session.state, session.state.fileViews(), all) : undefined,
      };
    }, signal);
  }

  /** A file's text as it was right after event `sequence` (undefined: now). */
  async getFileAt(
    sessionId: string,
    path: string,
    sequence: number | undefined,
    signal?: AbortSignal,
  ): Promise<FileAt> {
    checkPath('file_path', path);
    if (sequence !== undefined && (!Number.isInteger(sequence) || sequence < 0)) {
      throw invalidMessage('sequence', 'must be a non-negative integer');
    }
    const session = await this.existingSession(sessionId);
    const found = await session.read(() => {
      const head = session.committedHead;
      if (sequence !== undefined && sequence > head) {
        throw new LiveReviewError('SEQUENCE_AHEAD', `event ${sequence} is after the last one (${head})`, {
          metadata: { head: String(head) },
        });
      }
      return fileAtFromMemory(session.state, path, sequence ?? head);
    }, signal);
    return found ?? fileAtFromLog(this.options.store, sessionId, path, sequence!, signal);
  }

  /** The session as a review, for ExportReview: its state now and its log up to now. */
  async exportReview(sessionId: string, signal?: AbortSignal): Promise<ReviewExport> {
    const session = await this.existingSession(sessionId);
    const captured = await session.read(() => {
      const roles = new Map([...session.room.participants.values()].map((p) => [p.userId, p.role]));
      const present = session.room.roster().map((p) => ({
        userId: p.userId,
        displayName: p.displayName,
        role: roles.get(p.userId),
      }));
      return captureReview(session.state, session.committedHead, present);
    }, signal);
    const events = await readTimelineEvents(this.options.store, sessionId, captured.headSequence, signal);
    return buildReviewExport(captured, events, this.options.clock.now());
  }

  async listComments(
    sessionId: string,
    path: string,
    includeResolved: boolean,
    page: PageRequest,
    signal?: AbortSignal,
  ): Promise<{ comments: CommentView[]; headSequence: number; nextPageToken: string }> {
    const session = await this.existingSession(sessionId);
    return session.read(() => {
      const wanted = new Set(session.state.commentViews(includeResolved, path).map((c) => c.id));
      const p = readPage(session.state, session.committedHead, page, {
        budgetChars: this.options.config.snapshotChunkChars,
        includeFiles: false,
        tokenField: 'page_token',
        comments: session.state.commentViews(true),
        keep: (c) => wanted.has(c.id),
      });
      return { comments: p.comments, headSequence: session.committedHead, nextPageToken: p.nextToken };
    }, signal);
  }

  private sweep(): void {
    const now = this.options.clock.now();
    this.userLimiter.prune();
    this.sessionLimiter.prune();
    for (const [id, pending] of this.sessions) {
      void pending
        .then((s) => {
          s.room.sweepIdle(now);
          if (
            s.room.participants.size === 0 &&
            s.idle &&
            s.room.emptySince !== undefined &&
            now - s.room.emptySince >= this.options.config.evictAfterMs &&
            this.sessions.get(id) === pending
          ) {
            this.sessions.delete(id);
            this.replicator?.detach(id);
            s.dispose();
          }
        })
        .catch(() => undefined);
    }
  }

  /** Ends every participant's stream with `reason` and stops background work. */
  async close(reason: LiveReviewError): Promise<void> {
    this.closing = true;
    this.replicator?.leave();
    this.sweeper.cancel();
    const sessions = await Promise.allSettled(this.sessions.values());
    for (const s of sessions) {
      if (s.status !== 'fulfilled') continue;
      for (const p of [...s.value.room.participants.values()]) {
        p.sink.close(reason);
        s.value.leave(p);
      }
      s.value.dispose();
      // Let in-flight commits finish so that nothing acknowledged is lost.
      await s.value.run(() => undefined).catch(() => undefined);
    }
    await this.replicator?.close();
  }
}
