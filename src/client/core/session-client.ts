// SessionClient: one user in one review session, over any Transport. What an editor plugin, a
// review tool or a browser page embeds (LiveReviewClient is this over grpc-js).
//
// - Reconnects on its own (ConnectionLoop: backoff with full jitter honouring RetryInfo, a retry
//   budget, a circuit breaker); never retries what a retry cannot fix.
// - Resumes after the last sequence number it saw (nothing lost, nothing twice) and resends every
//   unacknowledged message under its original client message id (applied at most once).
// - Keeps each file's text with client-side OT (DocumentState): local edits apply at once;
//   `synced` is true only when every local operation has been acknowledged. An edit the server
//   refuses for good is undone on the local text ('rollback'); one refused for now (rate limit,
//   store unavailable) is sent again after the server's RetryInfo delay.
// - Bounds what it holds unacknowledged (the outbox): a clear error when full, never a drop.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  CommentAction,
  CommentSide,
  ExportFormat,
  ExportReviewRequestSchema,
  GetFileAtRequestSchema,
  GetSessionRequestSchema,
  ListCommentsRequestSchema,
  OpenReviewRequestSchema,
  PresenceUpdate_Status,
  SyncMode,
  type SessionMessageSchema,
  type Ack as WireAck,
  type SessionMessage,
} from '../../gen/es/codereview/v1/codereview_pb.js';
import { replaceLineOp } from '../../ot/lines.js';
import type { TextOp } from '../../ot/text.js';
import type { DiffOptions, DiffResult } from '../../review/diff.js';
import { replacementFromLines, suggestionTarget } from '../../review/suggestion.js';
import type { BackoffOptions } from './backoff.js';
import type { BreakerState, CircuitBreakerOptions } from './circuit-breaker.js';
import { AckOrder } from './ack-order.js';
import { ConnectionLoop, type StreamEnd } from './connection.js';
import type { DocumentState, PendingOp } from './document-state.js';
import { Emitter, type Listener } from './emitter.js';
import { Outbox } from './outbox.js';
import { randomId } from './random-id.js';
import { Replica } from './replica.js';
import { RetrySchedule } from './retry-schedule.js';
import { Code, LiveReviewCallError, OutboxFullError, errorOf, isTransientRefusal } from './status.js';
import type { CallOptions, SessionStream, Transport } from './transport.js';
import type {
  Ack,
  ClientEvents,
  CommentInfo,
  ConnectionState,
  FileAtInfo,
  FileBaseInfo,
  FileInfo,
  MessageError,
  PresenceInfo,
  ReviewSummary,
  SessionState,
  VerdictInfo,
  VerdictKind,
  ViewedInfo,
} from './types.js';
import {
  actionName,
  baseOf,
  baseToWire,
  commentOf,
  fileOf,
  fromWireOps,
  int,
  message,
  presenceOf,
  sessionStateOf,
  toWireOps,
  verdictOf,
  viewedOf,
  VERDICT_TO_WIRE,
} from './wire.js';

export interface SessionClientOptions {
  transport: Transport;
  sessionId: string;
  userId: string;
  /** Stable per client instance (scopes message ids across reconnects). Default: a random UUID. */
  clientId?: string;
  displayName?: string;
  /** A bearer token, or a function returning a fresh one. Called for every new stream and call,
   * and when the server asks a long stream for a fresh token before the current one expires. */
  token?: string | (() => string | Promise<string>);
  /** Reconnect backoff: 1 s base, 30 s cap, full jitter, unlimited budget by default. */
  backoff?: BackoffOptions;
  circuitBreaker?: CircuitBreakerOptions;
  /** Most unacknowledged durable operations held (edits and comments), default 1000. */
  outboxLimit?: number;
  /** Deadline of unary calls, ms (default 5000). */
  deadlineMs?: number;
  /** Closes the client when aborted. */
  signal?: AbortSignal;
}

/** Refusals that mean this client's idea of the file differs from the server's: after undoing the
 * edit, take a fresh snapshot rather than build on a text the server does not have. */
const DRIFT = new Set(['INVALID_OPERATION', 'VERSION_AHEAD', 'VERSION_TOO_OLD']);

export class SessionClient {
  readonly clientId: string;
  protected readonly transport: Transport;
  private readonly events = new Emitter<ClientEvents>();
  private readonly replica = new Replica(() => this.nextMessageId());
  private readonly outbox = new Outbox();
  private readonly roster = new Map<string, PresenceInfo>();
  private readonly connection: ConnectionLoop;
  private readonly outboxLimit: number;
  private stream: SessionStream | undefined;
  private cutStream: AbortController | undefined;
  private currentState: ConnectionState = 'idle';
  private lastSeq = 0;
  private joinedOnce = false;
  private forceSnapshot = false;
  private messageCounter = 0;
  private cursor: { path: string; line: number; column: number } | undefined;
  private catchUpUntil = 0;
  private readonly ackOrder = new AckOrder();
  /** Messages refused "for now", sent again later. */
  private readonly retries = new RetrySchedule();
  private sequenceWaiters: { sequence: number; resolve(): void }[] = [];
  /** How the current stream was brought up to date (reported by 'ready'). */
  private resuming = false;
  private live = false;
  private wasSynced = true;
  private lastSummary = '';

  constructor(private readonly options: SessionClientOptions) {
    this.transport = options.transport;
    this.clientId = options.clientId ?? randomId();
    this.outboxLimit = options.outboxLimit ?? 1000;
    this.connection = new ConnectionLoop(
      {
        runStream: () => this.runStream(),
        setState: (state, info) => this.setState(state, info),
        fail: (end) => this.fail(end),
      },
      options,
    );
    options.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  // ---- events ----------------------------------------------------------------------------------

  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): this {
    this.events.on(event, listener);
    return this;
  }

  once<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): this {
    this.events.once(event, listener);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): this {
    this.events.off(event, listener);
    return this;
  }

  private emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    this.events.emit(event, ...args);
  }

  // ---- state -----------------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.currentState;
  }

  get breakerState(): BreakerState {
    return this.connection.breaker.state;
  }

  /** Connection attempts made so far (for observability and tests). */
  get connectionAttempts(): number {
    return this.connection.attempts;
  }

  /** The last sequence number this client has seen: where it resumes from. */
  get lastSequence(): number {
    return this.lastSeq;
  }

  /** True when every local operation has been acknowledged by the server. */
  get synced(): boolean {
    return this.outboxSize === 0;
  }

  /** Durable operations not yet acknowledged (edits and comment changes). */
  get outboxSize(): number {
    return this.outbox.size + this.replica.unacknowledgedEdits;
  }

  /** A file as this client sees it (server state plus its own pending edits), and its base. */
  file(path: string): { text: string; version: number; base: FileBaseInfo } | undefined {
    const f = this.replica.file(path);
    return f && { text: f.text, version: f.version, base: f.base ?? { text: '' } };
  }

  get files(): string[] {
    return this.replica.paths;
  }

  comments(): CommentInfo[] {
    return this.replica.comments();
  }

  participants(): PresenceInfo[] {
    return [...this.roster.values()];
  }

  private setState(state: ConnectionState, info: ClientEvents['state'][1] = {}): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.emit('state', state, info);
  }

  private checkSynced(): void {
    const now = this.synced;
    if (now !== this.wasSynced) {
      this.wasSynced = now;
      this.emit('synced', now);
    }
  }

  // ---- connection ------------------------------------------------------------------------------

  /** Connects and joins; resolves once up to date ('ready'), rejects if the client fails for good. */
  connect(): Promise<void> {
    if (this.currentState === 'idle') this.connection.start();
    return new Promise((resolve, reject) => {
      const onReady = () => {
        this.off('state', onState);
        resolve();
      };
      const onState = (s: ConnectionState, info: ClientEvents['state'][1]) => {
        if (s === 'failed' || s === 'closed') {
          this.off('ready', onReady);
          this.off('state', onState);
          reject(
            new LiveReviewCallError(info.code ?? Code.UNAVAILABLE, info.reason ?? '', info.message ?? s),
          );
        }
      };
      if (this.live) return resolve();
      if (this.currentState === 'failed' || this.currentState === 'closed') {
        return reject(new LiveReviewCallError(Code.UNAVAILABLE, '', `client is ${this.currentState}`));
      }
      this.once('ready', onReady);
      this.on('state', onState);
    });
  }

  private callOptions(extra: { signal?: AbortSignal; timeoutMs?: number } = {}): CallOptions {
    const t = this.options.token;
    return {
      ...extra,
      token: async () => {
        if (t === undefined || typeof t === 'string') return t;
        try {
          return await t();
        } catch (err) {
          throw new LiveReviewCallError(
            Code.UNAVAILABLE,
            '',
            `token provider failed: ${(err as Error).message}`,
          );
        }
      },
    };
  }

  private fail(end: StreamEnd): void {
    this.setState('failed', { code: end.code, reason: end.reason, message: end.message });
    this.release(new LiveReviewCallError(end.code, end.reason, end.message));
  }

  /** One session stream, from join to end. */
  private async runStream(): Promise<StreamEnd> {
    // Aborted to cut the stream at once (a resync); close() half-closes it instead, so what was
    // written before reaches the server.
    const cut = new AbortController();
    const resume = this.joinedOnce && !this.forceSnapshot ? this.lastSeq : undefined;
    this.forceSnapshot = false;
    const stream = this.transport.open(
      {
        sessionId: this.options.sessionId,
        userId: this.options.userId,
        clientId: this.clientId,
        displayName: this.options.displayName ?? '',
        resumeAfterSequence: resume,
        capabilities: ['ops', 'ops_only', 'roster_updates'],
      },
      this.callOptions({ signal: cut.signal }),
    );
    this.stream = stream;
    this.cutStream = cut;
    this.live = false;
    let joined = false;
    try {
      for await (const m of stream.messages) {
        if (this.stream !== stream) break;
        if (!joined && m.payload.case === 'welcome') {
          joined = true;
          this.connection.joined();
        }
        this.onMessage(m);
      }
      return { code: Code.UNAVAILABLE, reason: '', message: 'stream ended', retryAfterMs: 0, joined };
    } catch (err) {
      // A message this client could not apply means its state drifted: resync from a snapshot.
      if (!(err instanceof LiveReviewCallError)) this.forceSnapshot = true;
      const e = asCallError(err);
      return { code: e.code, reason: e.reason, message: e.message, retryAfterMs: e.retryAfterMs, joined };
    } finally {
      if (this.stream === stream) this.stream = undefined;
      this.live = false;
      this.ackOrder.clear();
      this.releaseSequenceWaiters(Infinity);
    }
  }

  /** The server asked for a fresh token: fetch one and send it inside the stream. */
  private async refreshToken(): Promise<void> {
    const t = this.options.token;
    if (t === undefined || typeof t === 'string') return;
    try {
      const token = await t();
      this.write(
        message({
          clientMessageId: this.nextMessageId(),
          payload: { case: 'tokenRefresh', value: { token } },
        }),
      );
    } catch (err) {
      this.emit('error', {
        clientMessageId: '',
        code: Code.UNAUTHENTICATED,
        reason: 'TOKEN_PROVIDER_FAILED',
        message: (err as Error).message,
        willRetry: false,
      });
    }
  }

  private write(m: SessionMessage): void {
    if (!this.stream || !this.joinedOnce) return; // resent after the next join
    const answer = this.stream.send(m);
    if (answer) {
      const id = m.clientMessageId;
      answer.then(
        (ack) => this.onAck(ack),
        (err: unknown) => this.onRefused(id, asCallError(err)),
      );
    }
  }

  /** After a join: everything unacknowledged goes out again under its original id. */
  private resendUnacknowledged(): void {
    for (const { path, pending } of this.replica.pendingEdits()) this.sendEdit(path, pending);
    for (const m of this.outbox.messages()) this.write(m);
    if (this.cursor) this.moveCursor(this.cursor.path, this.cursor.line, this.cursor.column);
  }

  /** Message ids are unique to this instance, not only to its client id: an app that gives its
   * clients a fixed id (a user's name, a tab's stored id) and restarts counts from 1 again, and
   * ids the server already committed would be answered as duplicates and dropped. The trailing
   * number stays ascending within the instance (the server's dedupe shortcut reads it). */
  private readonly instanceTag = randomId().slice(0, 8);
  private nextMessageId = (): string => `${this.clientId}:${this.instanceTag}.${++this.messageCounter}`;

  // ---- incoming --------------------------------------------------------------------------------

  private onMessage(m: SessionMessage): void {
    const sequence = int(m.sequence);
    if (sequence > 0) {
      // An event seen already: our own, acknowledged before its echo arrived.
      if (sequence <= this.lastSeq) return;
      this.lastSeq = sequence;
    }
    const p = m.payload;
    switch (p.case) {
      case 'welcome': {
        this.joinedOnce = true;
        this.catchUpUntil = int(p.value.headSequence);
        this.resuming = p.value.sync === SyncMode.RESUME;
        this.roster.clear();
        for (const r of p.value.roster) {
          this.roster.set(r.participantId, {
            participantId: r.participantId,
            userId: r.userId,
            status: presenceOf(r.status),
          });
        }
        this.setState('connected');
        if (this.resuming) {
          this.resendUnacknowledged();
          this.maybeReady();
        }
        return;
      }
      case 'snapshot':
        if (this.replica.addSnapshotChunk(p.value)) this.applySnapshot(int(p.value.sequence));
        return;
      case 'fileOpened':
        this.replica.fileOpened(
          p.value.path,
          p.value.text,
          p.value.version,
          p.value.base ? baseOf(p.value.base) : { text: p.value.text },
        );
        this.emit('file', { path: p.value.path, version: p.value.version, text: p.value.text });
        break;
      case 'edit': {
        const own = m.clientId === this.clientId && m.clientMessageId;
        if (own && this.replica.pendingEdit(m.clientMessageId)?.path === p.value.filePath) {
          // Our own edit, echoed (a half-duplex stream): it is its ack.
          this.applyAck({
            clientMessageId: m.clientMessageId,
            sequence,
            version: p.value.version,
            filePath: p.value.filePath,
          });
          break;
        }
        const applied = this.replica.remoteEdit(
          p.value.filePath,
          fromWireOps(p.value.operations),
          p.value.version,
        );
        this.emit('edit', {
          path: p.value.filePath,
          op: applied,
          version: p.value.version,
          line: p.value.lineNumber,
          // With the capability ops_only the server leaves the text out: it is in the replica.
          lineText: p.value.content || this.replica.serverLine(p.value.filePath, p.value.lineNumber),
          userId: m.userId,
          sequence,
        });
        break;
      }
      case 'comment': {
        if (p.value.suggestion && this.ownEcho(m)) {
          // Our suggestion, as the server placed it (its echo is its ack).
          this.replica.trackComment(p.value);
          this.acknowledgeEcho(m, p.value.commentId);
          break;
        }
        if (m.clientId === this.clientId && m.clientMessageId && this.outbox.get(m.clientMessageId)) {
          this.applyAck({
            clientMessageId: m.clientMessageId,
            sequence,
            version: p.value.version,
            filePath: p.value.filePath,
            commentId: p.value.commentId,
            lineNumber: p.value.lineNumber,
          });
          break;
        }
        const c = this.replica.trackComment(p.value);
        this.emit('comment', { ...c, action: actionName(p.value.action), sequence });
        break;
      }
      case 'suggestionApplied': {
        const v = p.value;
        const e = v.edit;
        if (!e) break;
        const applied = this.replica.remoteEdit(e.filePath, fromWireOps(e.operations), e.version);
        const thread = v.comment && this.replica.trackComment(v.comment);
        if (this.ownEcho(m)) this.acknowledgeEcho(m, v.commentId);
        this.emit('edit', {
          path: e.filePath,
          op: applied,
          version: e.version,
          line: e.lineNumber,
          lineText: e.content,
          userId: m.userId,
          sequence,
          suggestion: { commentId: v.commentId, authorId: v.suggestionAuthorId },
        });
        if (thread) this.emit('comment', { ...thread, action: 'apply', sequence });
        break;
      }
      case 'verdict': {
        const verdict = verdictOf(p.value, m);
        this.replica.progress.addVerdict(verdict);
        if (this.ownEcho(m)) this.acknowledgeEcho(m, '');
        this.emit('verdict', verdict);
        break;
      }
      case 'fileViewed': {
        const mark = viewedOf(p.value, m);
        this.replica.progress.setViewed(mark);
        if (this.ownEcho(m)) this.acknowledgeEcho(m, '');
        this.emit('viewed', mark);
        break;
      }
      case 'ack':
        this.onAck(p.value);
        break;
      case 'error':
        this.onRefused(p.value.clientMessageId, errorOf(p.value.status));
        return;
      case 'presence':
        this.onPresence({
          participantId: p.value.clientId || m.clientId,
          userId: m.userId,
          status: presenceOf(p.value.status),
        });
        return;
      case 'rosterUpdate':
        for (const q of p.value.participants) {
          this.onPresence({ participantId: q.participantId, userId: q.userId, status: presenceOf(q.status) });
        }
        return;
      case 'reauthenticate':
        void this.refreshToken();
        return;
      case 'cursor':
        this.emit('cursor', {
          participantId: m.clientId,
          userId: m.userId,
          path: p.value.filePath,
          line: p.value.line,
          column: p.value.column,
        });
        return;
      default:
        return;
    }
    this.releaseHeldAcks();
    this.releaseSequenceWaiters(this.lastSeq);
    this.maybeReady();
    this.checkSummary();
  }

  /** Whether `m` is the echo of a message of this client that waits for it. */
  private ownEcho(m: SessionMessage): boolean {
    return (
      m.clientId === this.clientId &&
      m.clientMessageId !== '' &&
      this.outbox.get(m.clientMessageId) !== undefined
    );
  }

  /** The echo of a message whose content the server makes is its ack (see needsEcho). */
  private acknowledgeEcho(m: SessionMessage, commentId: string): void {
    this.retries.forget(m.clientMessageId);
    this.outbox.acknowledge({
      clientMessageId: m.clientMessageId,
      sequence: int(m.sequence),
      commentId,
      duplicate: false,
    });
    this.checkSynced();
  }

  /** Emits 'summary' when where the review stands changed (computed only when listened to). */
  private checkSummary(): void {
    if (!this.events.has('summary') || !this.live) return;
    const summary = this.replica.summary();
    const key = JSON.stringify(summary);
    if (key === this.lastSummary) return;
    this.lastSummary = key;
    this.emit('summary', summary);
  }

  private maybeReady(): void {
    if (this.live || this.lastSeq < this.catchUpUntil) return;
    this.live = true;
    this.emit('ready', { resumed: this.resuming, headSequence: this.catchUpUntil });
    this.checkSynced();
    this.checkSummary();
  }

  private applySnapshot(sequence: number): void {
    for (const r of this.replica.applySnapshot()) this.emit('resync', r);
    this.lastSeq = sequence;
    this.catchUpUntil = Math.max(this.catchUpUntil, sequence);
    this.emit('snapshot', { files: this.replica.paths.map((path) => this.replica.file(path)!) });
    // What is still unacknowledged goes out again (idempotent): comments, and new files' edits.
    this.resendUnacknowledged();
    this.releaseSequenceWaiters(this.lastSeq);
    this.maybeReady();
  }

  private onPresence(info: PresenceInfo): void {
    if (info.status === 'left') this.roster.delete(info.participantId);
    else this.roster.set(info.participantId, info);
    this.emit('presence', info);
  }

  /** An ack, applied in sequence order: after every event sequenced before it. */
  private onAck(ack: WireAck): void {
    if (!this.ackOrder.ready(ack, this.lastSeq)) return this.ackOrder.hold(ack);
    this.applyAck({ ...ack, sequence: int(ack.sequence) });
    this.releaseHeldAcks();
  }

  private releaseHeldAcks(): void {
    for (let a = this.ackOrder.next(this.lastSeq); a; a = this.ackOrder.next(this.lastSeq)) {
      this.applyAck({ ...a, sequence: int(a.sequence) });
    }
  }

  private applyAck(ack: {
    clientMessageId: string;
    sequence: number;
    version: number;
    filePath: string;
    commentId?: string;
    lineNumber?: number;
    duplicate?: boolean;
  }): void {
    const id = ack.clientMessageId;
    const sent = this.outbox.get(id);
    // Its content comes with the event (a half-duplex Submit may answer before the stream brings
    // it): the event acknowledges it; an ack of an event already seen only settles it.
    if (sent && needsEcho(sent) && ack.sequence > this.lastSeq) return;
    if (ack.sequence > this.lastSeq) this.lastSeq = ack.sequence;
    this.retries.forget(id);
    const next = ack.filePath ? this.replica.acknowledgeEdit(ack.filePath, id, ack.version) : undefined;
    if (next) this.sendEdit(ack.filePath, next);
    if (sent) {
      // Our own comment changes come back as acks, not as comment events: apply them here.
      if (sent.payload.case === 'comment' && !needsEcho(sent))
        this.replica.applyOwnComment(sent.payload.value, ack, this.options.userId);
      this.outbox.acknowledge({
        clientMessageId: id,
        sequence: ack.sequence,
        commentId: ack.commentId ?? '',
        duplicate: ack.duplicate ?? false,
      });
    }
    this.checkSynced();
  }

  private onRefused(id: string, err: LiveReviewCallError): void {
    const doc = this.replica.pendingEdit(id);
    const known = doc !== undefined || this.outbox.get(id) !== undefined;
    const willRetry =
      known &&
      isTransientRefusal(err.code) &&
      this.retries.schedule(id, err.retryAfterMs, () => this.resend(id));
    const error: MessageError = {
      clientMessageId: id,
      code: err.code,
      reason: err.reason,
      message: err.message,
      willRetry,
    };
    this.emit('error', error);
    if (willRetry) return;
    this.retries.forget(id);
    if (doc) return this.rollback(doc, error);
    if (this.outbox.get(id)) {
      this.outbox.refuse(id, err);
      this.checkSynced();
    }
  }

  /** Undoes a refused edit on the local text; the edits typed after it stay and go out next. */
  private rollback(doc: DocumentState, error: MessageError): void {
    const { undone, next, file } = this.replica.rejectEdit(doc);
    if (next) this.sendEdit(doc.path, next);
    this.emit('rollback', {
      path: doc.path,
      clientMessageId: error.clientMessageId,
      undoneEdits: undone,
      error,
      file,
    });
    this.checkSynced();
    if (DRIFT.has(error.reason)) {
      // The server's text is not what this client thinks: resync from a fresh snapshot.
      this.forceSnapshot = true;
      this.cutStream?.abort();
    }
  }

  /** Sends `id` again, if it still waits for the server. */
  private resend(id: string): void {
    const doc = this.replica.pendingEdit(id);
    if (doc?.pending) return this.sendEdit(doc.path, doc.pending);
    const m = this.outbox.get(id);
    if (m) this.write(m);
  }

  // ---- outgoing --------------------------------------------------------------------------------

  private checkOutbox(): void {
    if (this.currentState === 'closed' || this.currentState === 'failed') {
      throw new LiveReviewCallError(Code.UNAVAILABLE, '', `client is ${this.currentState}`);
    }
    if (this.outboxSize >= this.outboxLimit) throw new OutboxFullError(this.outboxLimit);
  }

  private sendEdit(path: string, p: PendingOp): void {
    this.write(
      message({
        clientMessageId: p.clientMessageId,
        payload: {
          case: 'edit',
          value: { filePath: path, version: p.baseVersion, operations: toWireOps(p.op) },
        },
      }),
    );
  }

  /** Applies an edit (code point operations on this client's current text) and sends it. */
  edit(path: string, op: TextOp): void {
    this.checkOutbox();
    const toSend = this.replica.localEdit(path, op);
    if (toSend) this.sendEdit(path, toSend);
    this.checkSynced();
  }

  /** Replaces line `line` (1-based) of this client's text; line count + 1 appends a line. */
  editLine(path: string, line: number, content: string): void {
    const op = replaceLineOp(this.replica.file(path)?.text ?? '', line, content);
    if (!op) throw new RangeError(`${path} has no line ${line}`);
    this.edit(path, op);
  }

  private sendDurable(payload: PayloadInit): Promise<Ack> {
    try {
      this.checkOutbox();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const m = message({ clientMessageId: this.nextMessageId(), payload });
    const acked = this.outbox.add(m);
    this.checkSynced();
    if (this.currentState === 'connected') this.write(m);
    return acked;
  }

  /** Comments on a line of this client's current text of `path`. Resolves once committed. */
  comment(path: string, line: number, text: string, commentId = ''): Promise<Ack> {
    return this.sendDurable({
      case: 'comment',
      value: {
        commentId,
        filePath: path,
        lineNumber: line,
        text,
        action: CommentAction.CREATE,
        version: this.replica.commentVersion(path),
      },
    });
  }

  reply(parentId: string, text: string): Promise<Ack> {
    return this.sendDurable({ case: 'comment', value: { parentId, text, action: CommentAction.REPLY } });
  }

  editComment(commentId: string, text: string): Promise<Ack> {
    return this.sendDurable({ case: 'comment', value: { commentId, text, action: CommentAction.EDIT } });
  }

  resolve(commentId: string): Promise<Ack> {
    return this.sendDurable({ case: 'comment', value: { commentId, action: CommentAction.RESOLVE } });
  }

  reopen(commentId: string): Promise<Ack> {
    return this.sendDurable({ case: 'comment', value: { commentId, action: CommentAction.REOPEN } });
  }

  /** Comments on line `line` of the base of `path` (code the change removed, say): the thread
   * stays on that line of the base whatever happens to the head. Resolves once committed. */
  commentOnBase(path: string, line: number, text: string): Promise<Ack> {
    return this.sendDurable({
      case: 'comment',
      value: { filePath: path, lineNumber: line, text, action: CommentAction.CREATE, side: CommentSide.BASE },
    });
  }

  /**
   * Suggests a change to lines `startLine`..`endLine` (1-based, inclusive) of this client's text of
   * `path`, in a new thread with `text`. `replacement` is the new text of those lines (a final line
   * break is added when they end with one), or the new lines as a list; '' or [] deletes them. The
   * server refuses it (SUGGESTION_CONFLICT) when its lines are not what this client shows. Resolves
   * once committed; the thread then shows the suggestion with its status.
   */
  suggest(
    path: string,
    startLine: number,
    endLine: number,
    replacement: string | readonly string[],
    text: string,
  ): Promise<Ack> {
    const target = suggestionTarget(this.replica.file(path)?.text ?? '', startLine, endLine);
    if (!this.replica.file(path) || !target) {
      return Promise.reject(new RangeError(`${path} has no lines ${startLine}-${endLine}`));
    }
    const newText =
      typeof replacement === 'string' ? replacement : replacementFromLines(replacement, target.originalText);
    return this.sendDurable({
      case: 'comment',
      value: {
        filePath: path,
        lineNumber: endLine,
        text,
        action: CommentAction.CREATE,
        version: this.replica.commentVersion(path),
        suggestion: { startLine, endLine, replacement: newText, originalText: target.originalText },
      },
    });
  }

  /** Applies the suggestion of a thread (a role that may edit): the server makes it an edit of the
   * current text, which arrives as an 'edit' event (with `suggestion` set), and marks the thread
   * applied. Rejects with SUGGESTION_CONFLICT when its lines changed since it was made. */
  applySuggestion(commentId: string): Promise<Ack> {
    return this.sendDurable({ case: 'applySuggestion', value: { commentId } });
  }

  /** Gives this user's verdict on the review (the latest one counts). */
  setVerdict(verdict: VerdictKind, message = ''): Promise<Ack> {
    return this.sendDurable({ case: 'verdict', value: { kind: VERDICT_TO_WIRE[verdict], message } });
  }

  /** Marks a file viewed as this client has it from the server (or takes the mark back). The mark
   * resets when the file changes afterwards. */
  markViewed(path: string, viewed = true): Promise<Ack> {
    const file = this.replica.file(path);
    if (!file) return Promise.reject(new RangeError(`no file ${path} in this session`));
    return this.sendDurable({ case: 'fileViewed', value: { filePath: path, version: file.version, viewed } });
  }

  /** Each reviewer's current (latest) verdict. */
  verdicts(): VerdictInfo[] {
    return this.replica.progress.currentVerdicts();
  }

  /** Every verdict given, in order. */
  verdictHistory(): VerdictInfo[] {
    return this.replica.progress.verdictHistory();
  }

  /** The viewed marks that count: made at the file's current version (of one file, or all). */
  viewedMarks(path?: string): ViewedInfo[] {
    const marks = path === undefined ? this.replica.progress.allMarks() : this.replica.progress.marksOf(path);
    return marks.filter((m) => m.version === this.replica.file(m.path)?.version);
  }

  /** Whether `userId` (default: this user) has viewed `path` as it is now. */
  isViewed(path: string, userId = this.options.userId): boolean {
    return this.viewedMarks(path).some((m) => m.userId === userId);
  }

  /** Where the review stands: verdicts, threads, suggestions, files viewed per user ('summary'
   * says when it changes). */
  summary(): ReviewSummary {
    return this.replica.summary();
  }

  /** The diff of a file's base to this client's text of it, by lines (undefined: no such file). */
  diff(path: string, options?: DiffOptions): DiffResult | undefined {
    return this.replica.diff(path, options);
  }

  /** Moves this participant's cursor (ephemeral: only the latest is sent, also after a reconnect). */
  moveCursor(path: string, line: number, column: number): void {
    this.cursor = { path, line, column };
    if (this.currentState !== 'connected' || !this.replica.file(path)) return;
    this.write(
      message({
        payload: {
          case: 'cursor',
          value: { filePath: path, line, column, version: this.replica.commentVersion(path) },
        },
      }),
    );
  }

  setPresence(status: 'active' | 'idle'): void {
    if (this.currentState !== 'connected') return;
    const value = status === 'active' ? PresenceUpdate_Status.ACTIVE : PresenceUpdate_Status.IDLE;
    this.write(message({ payload: { case: 'presence', value: { status: value } } }));
  }

  // ---- unary calls -----------------------------------------------------------------------------

  private unaryOptions(options: UnaryOptions): CallOptions {
    return this.callOptions({
      signal: options.signal,
      timeoutMs: options.deadlineMs ?? this.options.deadlineMs ?? 5000,
    });
  }

  /** Reads the session's state from the server (with a deadline, cancellable). */
  async getSession(options: UnaryOptions = {}): Promise<SessionState> {
    const s = await this.transport.getSession(
      create(GetSessionRequestSchema, { sessionId: this.options.sessionId }),
      this.unaryOptions(options),
    );
    return sessionStateOf(s);
  }

  /** Lists the session's comments as the server has them (resolved ones too when asked). */
  async listComments(
    options: UnaryOptions & { path?: string; includeResolved?: boolean } = {},
  ): Promise<CommentInfo[]> {
    const r = await this.transport.listComments(
      create(ListCommentsRequestSchema, {
        sessionId: this.options.sessionId,
        filePath: options.path ?? '',
        includeResolved: options.includeResolved ?? false,
      }),
      this.unaryOptions(options),
    );
    return r.comments.map(commentOf);
  }

  /** Opens files into the session (creating it if needed): each with its head text and its base
   * (what it is compared with; without one the text is also the base, and an empty base text
   * means an added file); idempotent under its message id when retried. While connected it
   * resolves once this client's stream has the opened files, so `file(path)` shows them. */
  async openReview(
    files: { path: string; text: string; base?: FileBaseInfo }[],
    options: UnaryOptions = {},
  ): Promise<{ sequence: number; files: FileInfo[] }> {
    const r = await this.transport.openReview(
      create(OpenReviewRequestSchema, {
        sessionId: this.options.sessionId,
        userId: this.options.userId,
        clientMessageId: this.nextMessageId(),
        files: files.map((f) => ({
          path: f.path,
          text: f.text,
          ...(f.base ? { base: baseToWire(f.base) } : {}),
        })),
      }),
      this.unaryOptions(options),
    );
    const sequence = int(r.sequence);
    if (this.live) await new Promise<void>((resolve) => this.untilSequence(sequence, resolve));
    return { sequence, files: r.files.map(fileOf) };
  }

  /** A file's text as it was right after event `sequence` (undefined: now), from the server. */
  async fileAt(path: string, sequence?: number, options: UnaryOptions = {}): Promise<FileAtInfo> {
    const r = await this.transport.getFileAt(
      create(GetFileAtRequestSchema, {
        sessionId: this.options.sessionId,
        filePath: path,
        ...(sequence !== undefined ? { sequence: BigInt(sequence) } : {}),
      }),
      this.unaryOptions(options),
    );
    return {
      path: r.filePath,
      sequence: int(r.sequence),
      exists: r.exists,
      version: r.version,
      text: r.text,
    };
  }

  /** The whole review as Markdown (for a pull request) or JSON, from the server. */
  async exportReview(format: 'markdown' | 'json' = 'markdown', options: UnaryOptions = {}): Promise<string> {
    const r = await this.transport.exportReview(
      create(ExportReviewRequestSchema, {
        sessionId: this.options.sessionId,
        format: format === 'json' ? ExportFormat.JSON : ExportFormat.MARKDOWN,
      }),
      this.unaryOptions(options),
    );
    return r.content;
  }

  private untilSequence(sequence: number, resolve: () => void): void {
    if (this.lastSeq >= sequence) return resolve();
    this.sequenceWaiters.push({ sequence, resolve });
  }

  /** Resolves the waiters up to `sequence` (Infinity: all, as the stream ended). */
  private releaseSequenceWaiters(sequence: number): void {
    if (this.sequenceWaiters.length === 0) return;
    const waiting = this.sequenceWaiters;
    this.sequenceWaiters = waiting.filter((w) => w.sequence > sequence);
    for (const w of waiting) if (w.sequence <= sequence) w.resolve();
  }

  /** Leaves the session for now and keeps everything: files, comments, what is not acknowledged
   * yet (sent again, under the same ids, after resume()). State 'paused' until resume(), which
   * joins again from the last sequence seen. For a client nobody looks at: the web app pauses a
   * hidden tab where the browser's connections to the server are few (HTTP/1.1). */
  pause(): void {
    if (this.currentState === 'idle' || this.currentState === 'closed' || this.currentState === 'failed')
      return;
    this.connection.pause();
    // Half-closed, so that what was written reaches the server; the loop then waits for resume().
    this.stream?.close();
  }

  /** Joins again after pause(). */
  resume(): void {
    this.connection.resume();
  }

  /** Leaves the session and releases everything. Pending operations are rejected. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.stream?.close();
    this.stream = undefined;
    this.connection.close();
    this.setState('closed');
    this.release(new LiveReviewCallError(Code.CANCELLED, '', 'client closed'));
  }

  private release(err: LiveReviewCallError): void {
    this.retries.clear();
    this.outbox.refuseAll(err);
    this.releaseSequenceWaiters(Infinity);
    this.transport.close();
  }
}

type PayloadInit = MessageInitShape<typeof SessionMessageSchema>['payload'];

/** Messages whose content the server makes (an applied suggestion's edit, a suggestion's range,
 * a verdict's or mark's time): they come back to this client as events, which are their acks. */
function needsEcho(m: SessionMessage): boolean {
  const p = m.payload;
  return (
    p.case === 'applySuggestion' ||
    p.case === 'verdict' ||
    p.case === 'fileViewed' ||
    (p.case === 'comment' && p.value.suggestion !== undefined && p.value.action === CommentAction.CREATE)
  );
}

export interface UnaryOptions {
  /** Deadline, ms (default: the client's deadlineMs, 5000). */
  deadlineMs?: number;
  signal?: AbortSignal;
}

function asCallError(err: unknown): LiveReviewCallError {
  if (err instanceof LiveReviewCallError) return err;
  return new LiveReviewCallError(Code.UNKNOWN, '', (err as Error)?.message ?? String(err));
}
