// LiveReviewClient: what an editor plugin or a review tool embeds. One session, one user.
//
// - Connects to one address or several (round-robin per connection attempt), keeps the channel
//   alive with HTTP/2 keepalive, and joins with its client id.
// - Reconnects on its own: exponential backoff with full jitter honouring RetryInfo, a retry
//   budget, a circuit breaker around stream creation; never retries what a retry cannot fix.
// - Resumes after the last sequence number it saw (nothing lost, nothing twice) and resends every
//   unacknowledged message under its original client message id (applied at most once).
// - Keeps each file's text with client-side OT: local edits apply at once; `synced` is true only
//   when every local operation has been acknowledged.
// - Bounds what it holds unacknowledged (the outbox): a clear error when full, never a drop.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { CommentBook } from '../core/comments.js';
import type { CommentRecord } from '../core/model.js';
import {
  CodeReviewServiceClient,
  CommentAction,
  CommentState,
  type Ack as WireAck,
  PresenceUpdate_Status,
  SessionMessage,
  SyncMode,
  type Comment,
  type GetSessionResponse,
  type TextOperation,
} from '../gen/codereview/v1/codereview.js';
import type { Status as RpcStatus } from '../gen/google/rpc/status.js';
import { lineRange, replaceLineOp } from '../ot/lines.js';
import type { TextOp } from '../ot/text.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.js';
import { DocumentState, type PendingOp } from './document-state.js';
import { detailsOf, detailsOfMetadata, isRetryable } from './retry-policy.js';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed' | 'failed';

export interface LiveReviewClientOptions {
  /** host:port of one or more servers; connection attempts go round-robin over them. */
  targets: string[];
  sessionId: string;
  userId: string;
  /** Stable per client instance (scopes message ids across reconnects). Default: a random UUID. */
  clientId?: string;
  displayName?: string;
  /** Default: plaintext (development). */
  credentials?: grpc.ChannelCredentials;
  /** Metadata sent with every call. */
  metadata?: () => grpc.Metadata;
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
  /** HTTP/2 keepalive ping interval, ms (default 30000; the server allows it). */
  keepaliveTimeMs?: number;
  /** Closes the client when aborted. */
  signal?: AbortSignal;
}

export interface CommentInfo {
  id: string;
  path: string;
  line: number;
  text: string;
  authorId: string;
  parentId: string;
  state: 'open' | 'resolved';
  outdated: boolean;
  originalLineText: string;
}

export interface RemoteEdit {
  path: string;
  /** The op as applied to this client's text (transformed past its pending edits). */
  op: TextOp;
  version: number;
  /** The first affected line and its text at `version`, on the server's text. */
  line: number;
  lineText: string;
  userId: string;
  sequence: number;
}

export interface PresenceInfo {
  participantId: string;
  userId: string;
  status: 'joined' | 'active' | 'idle' | 'left';
}

export interface CursorInfo {
  participantId: string;
  userId: string;
  path: string;
  line: number;
  column: number;
}

export interface MessageError {
  clientMessageId: string;
  code: number;
  reason: string;
  message: string;
}

export interface Ack {
  clientMessageId: string;
  sequence: number;
  commentId: string;
  duplicate: boolean;
}

export interface ClientEvents {
  state: [ConnectionState, { code?: number; reason?: string; message?: string }];
  /** Joined and up to date (after the snapshot, or after the missed events of a resume). */
  ready: [{ resumed: boolean; headSequence: number }];
  snapshot: [{ files: { path: string; version: number; text: string }[] }];
  edit: [RemoteEdit];
  comment: [CommentInfo & { action: string; sequence: number }];
  cursor: [CursorInfo];
  presence: [PresenceInfo];
  /** A message of this client was refused (the session goes on). */
  error: [MessageError];
  /** The local text of a file was replaced by the server's (pending local edits were dropped). */
  resync: [{ path: string; reason: string; droppedEdits: number }];
  synced: [boolean];
}

/** Thrown by edit and comment methods when the outbox holds `outboxLimit` unacknowledged operations. */
export class OutboxFullError extends Error {
  constructor(readonly limit: number) {
    super(`outbox full: ${limit} operations are waiting for the server; wait for 'synced' or reconnection`);
    this.name = 'OutboxFullError';
  }
}

/** A unary call or the session ended with a status. */
export class LiveReviewCallError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'LiveReviewCallError';
  }
}

interface PendingMessage {
  message: SessionMessage;
  resolve(ack: Ack): void;
  reject(err: Error): void;
}

interface StreamEnd {
  code: number;
  message: string;
  reason: string;
  retryAfterMs: number;
}

const PRESENCE: Record<number, PresenceInfo['status']> = {
  [PresenceUpdate_Status.JOINED]: 'joined',
  [PresenceUpdate_Status.ACTIVE]: 'active',
  [PresenceUpdate_Status.IDLE]: 'idle',
  [PresenceUpdate_Status.LEFT]: 'left',
};

export function toWireOps(op: TextOp): TextOperation[] {
  return op.map((c) =>
    typeof c === 'number'
      ? { kind: { $case: 'retain' as const, value: c } }
      : typeof c === 'string'
        ? { kind: { $case: 'insert' as const, value: c } }
        : { kind: { $case: 'delete' as const, value: typeof c.d === 'number' ? c.d : [...c.d].length } },
  );
}

export function fromWireOps(ops: TextOperation[]): TextOp {
  return ops.map((o) => {
    const k = o.kind!;
    return k.$case === 'retain' ? k.value : k.$case === 'insert' ? k.value : { d: k.value };
  });
}

export class LiveReviewClient {
  readonly clientId: string;
  private readonly emitter = new EventEmitter();
  private readonly docs = new Map<string, DocumentState>();
  private readonly anchors = new CommentBook();
  private readonly pending = new Map<string, PendingMessage>();
  private readonly roster = new Map<string, PresenceInfo>();
  private readonly grpcClients = new Map<string, CodeReviewServiceClient>();
  private readonly backoff: Backoff;
  private readonly breaker: CircuitBreaker;
  private readonly outboxLimit: number;
  private call: grpc.ClientDuplexStream<SessionMessage, SessionMessage> | undefined;
  private currentState: ConnectionState = 'idle';
  private lastSeq = 0;
  private joinedOnce = false;
  private forceSnapshot = false;
  private messageCounter = 0;
  private nextTarget = 0;
  private attemptsMade = 0;
  private cursor: { path: string; line: number; column: number } | undefined;
  private snapshotParts = new Map<string, { version: number; text: string }>();
  private snapshotComments: Comment[] = [];
  private catchUpUntil = 0;
  /** How the current stream was brought up to date (reported by 'ready'). */
  private resuming = false;
  private live = false;
  private wasSynced = true;
  private closing: AbortController = new AbortController();

  constructor(private readonly options: LiveReviewClientOptions) {
    if (options.targets.length === 0) throw new Error('at least one target is required');
    this.clientId = options.clientId ?? randomUUID();
    this.backoff = new Backoff(options.backoff);
    this.breaker = new CircuitBreaker(options.circuitBreaker);
    this.outboxLimit = options.outboxLimit ?? 1000;
    options.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  // ---- events ----------------------------------------------------------------------------------

  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this {
    this.emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  private emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    this.emitter.emit(event, ...args);
  }

  // ---- state -----------------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.currentState;
  }

  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  /** Connection attempts made so far (for observability and tests). */
  get connectionAttempts(): number {
    return this.attemptsMade;
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
    let n = this.pending.size;
    for (const d of this.docs.values()) n += d.unacknowledgedEdits;
    return n;
  }

  /** A file as this client sees it (server state plus its own pending edits). */
  file(path: string): { text: string; version: number } | undefined {
    const d = this.docs.get(path);
    return d && { text: d.text, version: d.version };
  }

  get files(): string[] {
    return [...this.docs.keys()];
  }

  comments(): CommentInfo[] {
    return [...this.anchors.all()].map((c) => this.commentInfo(c));
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

  // ---- connection ---------------------------------------------------------------------------

  /** Connects and joins; resolves once up to date ('ready'), rejects if the client fails for good. */
  connect(): Promise<void> {
    if (this.currentState === 'idle') void this.connectLoop();
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
            new LiveReviewCallError(
              info.code ?? grpc.status.UNAVAILABLE,
              info.reason ?? '',
              info.message ?? s,
            ),
          );
        }
      };
      if (this.live) return resolve();
      this.once('ready', onReady);
      this.on('state', onState);
    });
  }

  private grpcClient(target: string): CodeReviewServiceClient {
    let c = this.grpcClients.get(target);
    if (!c) {
      c = new CodeReviewServiceClient(target, this.options.credentials ?? grpc.credentials.createInsecure(), {
        'grpc.keepalive_time_ms': this.options.keepaliveTimeMs ?? 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
        'grpc.keepalive_permit_without_calls': 1,
        // Each client instance gets its own connection, so round-robin per client is real.
        'grpc.use_local_subchannel_pool': 1,
        // The SDK owns reconnection policy: keep grpc-js's own subchannel backoff (1 s growing
        // to 120 s by default) from stacking on top of it.
        'grpc.initial_reconnect_backoff_ms': this.backoff.baseDelayMs,
        'grpc.max_reconnect_backoff_ms': this.backoff.maxDelayMs,
      });
      this.grpcClients.set(target, c);
    }
    return c;
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.closing.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async connectLoop(): Promise<void> {
    this.setState('connecting');
    while (!this.closing.signal.aborted) {
      const wait = this.breaker.waitMs();
      if (wait > 0) await this.sleep(wait);
      if (this.closing.signal.aborted) return;
      const target = this.options.targets[this.nextTarget++ % this.options.targets.length]!;
      this.attemptsMade++;
      const end = await this.runStream(target);
      if (this.closing.signal.aborted) return;
      if (!end.joined) this.breaker.recordFailure();
      if (!isRetryable(end.code)) {
        this.fail(end);
        return;
      }
      if (end.joined) this.backoff.reset();
      if (this.backoff.exhausted) {
        this.fail({ ...end, message: `gave up after ${this.backoff.attempts} attempts: ${end.message}` });
        return;
      }
      this.setState('reconnecting', { code: end.code, reason: end.reason, message: end.message });
      await this.sleep(this.backoff.next(end.retryAfterMs));
    }
  }

  private fail(end: StreamEnd): void {
    this.setState('failed', { code: end.code, reason: end.reason, message: end.message });
    const err = new LiveReviewCallError(end.code, end.reason, end.message);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.closeClients();
  }

  /** One session stream, from join to end. */
  private async runStream(target: string): Promise<StreamEnd & { joined: boolean }> {
    let metadata: grpc.Metadata;
    try {
      metadata = await this.callMetadata();
    } catch (err) {
      const message = `token provider failed: ${(err as Error).message}`;
      return { code: grpc.status.UNAVAILABLE, message, reason: '', retryAfterMs: 0, joined: false };
    }
    return new Promise((resolve) => {
      const call = this.grpcClient(target).collaborativeSession(metadata);
      this.call = call;
      this.live = false;
      let joined = false;
      let ended = false;
      const finish = (end: StreamEnd) => {
        if (ended) return;
        ended = true;
        if (this.call === call) this.call = undefined;
        this.live = false;
        resolve({ ...end, joined });
      };
      call.on('data', (m: SessionMessage) => {
        if (m.payload?.$case === 'welcome' && !joined) {
          joined = true;
          this.breaker.recordSuccess();
        }
        this.onMessage(m);
      });
      call.on('error', (e: grpc.ServiceError) => {
        const d = detailsOfMetadata(e.metadata);
        finish({ code: e.code, message: e.details, reason: d.reason, retryAfterMs: d.retryAfterMs });
      });
      call.on('status', (s: grpc.StatusObject) => {
        const d = detailsOfMetadata(s.metadata);
        finish({ code: s.code, message: s.details, reason: d.reason, retryAfterMs: d.retryAfterMs });
      });
      call.on('end', () =>
        finish({ code: grpc.status.UNAVAILABLE, message: 'stream ended', reason: '', retryAfterMs: 0 }),
      );
      const resume = this.joinedOnce && !this.forceSnapshot ? this.lastSeq : undefined;
      this.forceSnapshot = false;
      call.write(
        SessionMessage.fromPartial({
          sessionId: this.options.sessionId,
          userId: this.options.userId,
          payload: {
            $case: 'join',
            value: {
              clientId: this.clientId,
              resumeAfterSequence: resume,
              capabilities: ['ops', 'roster_updates'],
              displayName: this.options.displayName ?? '',
            },
          },
        }),
      );
    });
  }

  private async callMetadata(): Promise<grpc.Metadata> {
    const md = this.options.metadata?.() ?? new grpc.Metadata();
    const t = this.options.token;
    if (t !== undefined) md.set('authorization', `Bearer ${typeof t === 'string' ? t : await t()}`);
    return md;
  }

  /** The server asked for a fresh token: fetch one and send it inside the stream. */
  private async refreshToken(): Promise<void> {
    const t = this.options.token;
    if (t === undefined || typeof t === 'string') return;
    try {
      const token = await t();
      this.call?.write(
        SessionMessage.fromPartial({
          clientMessageId: this.nextMessageId(),
          payload: { $case: 'tokenRefresh', value: { token } },
        }),
      );
    } catch (err) {
      this.emit('error', {
        clientMessageId: '',
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_PROVIDER_FAILED',
        message: (err as Error).message,
      });
    }
  }

  private write(m: SessionMessage): void {
    if (!this.call || !this.joinedOnce) return; // resent after the next join
    this.call.write(m);
  }

  /** After a join: everything unacknowledged goes out again under its original id. */
  private resendUnacknowledged(): void {
    for (const d of this.docs.values()) if (d.pending) this.sendEdit(d.path, d.pending);
    for (const p of this.pending.values()) this.call?.write(p.message);
    if (this.cursor) this.moveCursor(this.cursor.path, this.cursor.line, this.cursor.column);
  }

  private nextMessageId = (): string => `${this.clientId}:${++this.messageCounter}`;

  // ---- incoming --------------------------------------------------------------------------------

  private onMessage(m: SessionMessage): void {
    if (m.sequence > this.lastSeq) this.lastSeq = m.sequence;
    const p = m.payload;
    switch (p?.$case) {
      case 'welcome': {
        this.joinedOnce = true;
        this.catchUpUntil = p.value.headSequence;
        this.resuming = p.value.sync === SyncMode.SYNC_MODE_RESUME;
        this.roster.clear();
        for (const r of p.value.roster) {
          this.roster.set(r.participantId, {
            participantId: r.participantId,
            userId: r.userId,
            status: PRESENCE[r.status] ?? 'active',
          });
        }
        this.setState('connected');
        if (p.value.sync === SyncMode.SYNC_MODE_RESUME) {
          this.resendUnacknowledged();
          this.maybeReady();
        }
        return;
      }
      case 'snapshot': {
        for (const f of p.value.files) {
          const prev = this.snapshotParts.get(f.path);
          this.snapshotParts.set(f.path, {
            version: f.version,
            text: (f.continued && prev ? prev.text : '') + f.text,
          });
        }
        this.snapshotComments.push(...p.value.comments);
        if (p.value.index + 1 === p.value.count) this.applySnapshot(p.value.sequence);
        return;
      }
      case 'fileOpened':
        if (!this.docs.has(p.value.path))
          this.docs.set(p.value.path, new DocumentState(p.value.path, p.value.text, p.value.version));
        break;
      case 'edit': {
        let doc = this.docs.get(p.value.filePath);
        if (!doc) {
          doc = new DocumentState(p.value.filePath, '', 0);
          this.docs.set(doc.path, doc);
        }
        const applied = doc.applyRemote(fromWireOps(p.value.operations), p.value.version);
        this.anchors.onEdit(doc.path, applied);
        this.emit('edit', {
          path: doc.path,
          op: applied,
          version: p.value.version,
          line: p.value.lineNumber,
          lineText: p.value.content,
          userId: m.userId,
          sequence: m.sequence,
        });
        break;
      }
      case 'comment': {
        const c = this.trackComment(p.value);
        this.emit('comment', {
          ...this.commentInfo(c),
          action: (CommentAction[p.value.action] ?? '').replace('COMMENT_ACTION_', '').toLowerCase(),
          sequence: m.sequence,
        });
        break;
      }
      case 'ack':
        this.onAck(p.value);
        if (p.value.sequence > this.lastSeq) this.lastSeq = p.value.sequence;
        break;
      case 'error':
        this.onRefused(p.value.clientMessageId, p.value.status);
        return;
      case 'presence':
        this.onPresence({
          participantId: p.value.clientId || m.clientId,
          userId: m.userId,
          status: PRESENCE[p.value.status] ?? 'active',
        });
        return;
      case 'rosterUpdate':
        for (const q of p.value.participants) {
          this.onPresence({
            participantId: q.participantId,
            userId: q.userId,
            status: PRESENCE[q.status] ?? 'active',
          });
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
    this.maybeReady();
  }

  private maybeReady(): void {
    if (this.live || this.lastSeq < this.catchUpUntil) return;
    this.live = true;
    this.emit('ready', { resumed: this.resuming, headSequence: this.catchUpUntil });
    this.checkSynced();
  }

  private applySnapshot(sequence: number): void {
    for (const [path, f] of this.snapshotParts) {
      const doc = this.docs.get(path);
      if (!doc) {
        this.docs.set(path, new DocumentState(path, f.text, f.version));
        continue;
      }
      // A snapshot after a resync, or because the resume position was gone: the server's text
      // wins; local edits not yet acknowledged cannot be placed in it and are dropped (reported).
      const dropped = doc.unacknowledgedEdits;
      if (doc.text !== f.text || dropped > 0) {
        doc.reset(f.text, f.version);
        this.emit('resync', { path, reason: 'snapshot', droppedEdits: dropped });
      } else {
        doc.reset(f.text, f.version);
      }
    }
    this.snapshotParts.clear();
    this.anchors.clear();
    for (const c of this.snapshotComments.splice(0)) this.trackComment(c);
    this.lastSeq = sequence;
    this.catchUpUntil = Math.max(this.catchUpUntil, sequence);
    this.emit('snapshot', {
      files: [...this.docs.values()].map((d) => ({ path: d.path, version: d.version, text: d.text })),
    });
    // Comments and other non-edit messages still pending are resent (idempotent); edits were reset.
    for (const p of this.pending.values()) this.call?.write(p.message);
    if (this.cursor) this.moveCursor(this.cursor.path, this.cursor.line, this.cursor.column);
    this.maybeReady();
  }

  private onPresence(info: PresenceInfo): void {
    if (info.status === 'left') this.roster.delete(info.participantId);
    else this.roster.set(info.participantId, info);
    this.emit('presence', info);
  }

  private onAck(ack: WireAck): void {
    const id = ack.clientMessageId;
    const doc = ack.filePath ? this.docs.get(ack.filePath) : undefined;
    if (doc?.pending?.clientMessageId === id) {
      const next = doc.acknowledge(ack.version, this.nextMessageId);
      if (next) this.sendEdit(doc.path, next);
    }
    const waiting = this.pending.get(id);
    if (waiting) {
      this.pending.delete(id);
      // Our own comment changes come back as acks, not as comment events: apply them here.
      const sent = waiting.message.payload;
      if (sent?.$case === 'comment') this.applyOwnComment(sent.value, ack);
      waiting.resolve({
        clientMessageId: id,
        sequence: ack.sequence,
        commentId: ack.commentId,
        duplicate: ack.duplicate,
      });
    }
    this.checkSynced();
  }

  private applyOwnComment(sent: Comment, ack: WireAck): void {
    const id = ack.commentId || sent.commentId;
    if (
      sent.action === CommentAction.COMMENT_ACTION_CREATE ||
      sent.action === CommentAction.COMMENT_ACTION_REPLY
    ) {
      const root =
        sent.parentId && this.anchors.has(sent.parentId)
          ? this.anchors.root(this.anchors.get(sent.parentId))
          : undefined;
      this.trackComment({
        ...sent,
        commentId: id,
        filePath: ack.filePath || root?.path || sent.filePath,
        lineNumber: root ? this.commentInfo(root).line : ack.lineNumber || sent.lineNumber,
        parentId: root?.id ?? '',
        authorId: this.options.userId,
        state: CommentState.COMMENT_STATE_OPEN,
      });
    } else if (this.anchors.has(id)) {
      const known = this.anchors.get(id);
      const target = sent.action === CommentAction.COMMENT_ACTION_EDIT ? known : this.anchors.root(known);
      if (sent.action === CommentAction.COMMENT_ACTION_EDIT) target.text = sent.text;
      if (sent.action === CommentAction.COMMENT_ACTION_RESOLVE) target.state = 'resolved';
      if (sent.action === CommentAction.COMMENT_ACTION_REOPEN) target.state = 'open';
    }
  }

  private onRefused(id: string, status: RpcStatus | undefined): void {
    const d = detailsOf(status);
    const err: MessageError = {
      clientMessageId: id,
      code: status?.code ?? grpc.status.UNKNOWN,
      reason: d.reason,
      message: status?.message ?? '',
    };
    for (const doc of this.docs.values()) {
      if (doc.pending?.clientMessageId === id) {
        // The server could not apply our edit (stale or invalid against its text): resync from a
        // fresh snapshot rather than drift.
        this.forceSnapshot = true;
        this.emit('error', err);
        this.call?.cancel();
        return;
      }
    }
    const waiting = this.pending.get(id);
    if (waiting) {
      this.pending.delete(id);
      waiting.reject(new LiveReviewCallError(err.code, err.reason, err.message));
      this.checkSynced();
    }
    this.emit('error', err);
  }

  private trackComment(c: Comment): CommentRecord {
    if (this.anchors.has(c.commentId)) {
      const known = this.anchors.get(c.commentId);
      known.text = c.text;
      known.state = c.state === 2 ? 'resolved' : 'open';
      known.outdated = c.outdated;
      return known;
    }
    const doc = this.docs.get(c.filePath);
    // An outdated comment's anchor is collapsed at its line's start (as on the server).
    const range = lineRange(doc?.text ?? '', c.lineNumber);
    const record: CommentRecord = {
      id: c.commentId,
      path: c.filePath,
      parentId: c.parentId,
      authorId: c.authorId,
      text: c.text,
      state: c.state === 2 ? 'resolved' : 'open',
      outdated: c.outdated,
      anchorStart: range?.start ?? 0,
      anchorEnd: (c.outdated ? range?.start : range?.end) ?? 0,
      originalLineText: c.originalLineText,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
    };
    this.anchors.add(record);
    return record;
  }

  private commentInfo(c: CommentRecord): CommentInfo {
    const doc = this.docs.get(c.path);
    const v = this.anchors.view(c, doc?.text ?? '', doc?.version ?? 0);
    return {
      id: c.id,
      path: c.path,
      line: v.line,
      text: c.text,
      authorId: c.authorId,
      parentId: c.parentId,
      state: c.state,
      outdated: v.outdated,
      originalLineText: c.originalLineText,
    };
  }

  // ---- outgoing ----------------------------------------------------------------------------------

  private checkOutbox(): void {
    if (this.currentState === 'closed' || this.currentState === 'failed') {
      throw new LiveReviewCallError(grpc.status.UNAVAILABLE, '', `client is ${this.currentState}`);
    }
    if (this.outboxSize >= this.outboxLimit) throw new OutboxFullError(this.outboxLimit);
  }

  private sendEdit(path: string, p: PendingOp): void {
    this.write(
      SessionMessage.fromPartial({
        clientMessageId: p.clientMessageId,
        payload: {
          $case: 'edit',
          value: { filePath: path, version: p.baseVersion, operations: toWireOps(p.op) },
        },
      }),
    );
  }

  /** Applies an edit (code point operations on this client's current text) and sends it. */
  edit(path: string, op: TextOp): void {
    this.checkOutbox();
    let doc = this.docs.get(path);
    if (!doc) {
      doc = new DocumentState(path, '', 0);
      this.docs.set(path, doc);
    }
    const before = doc.unacknowledgedEdits;
    const toSend = doc.applyLocal(op, this.nextMessageId);
    if (doc.unacknowledgedEdits === before) return; // a no-op
    this.anchors.onEdit(path, op);
    if (toSend) this.sendEdit(path, toSend);
    this.checkSynced();
  }

  /** Replaces line `line` (1-based) of this client's text; line count + 1 appends a line. */
  editLine(path: string, line: number, content: string): void {
    const op = replaceLineOp(this.docs.get(path)?.text ?? '', line, content);
    if (!op) throw new RangeError(`${path} has no line ${line}`);
    this.edit(path, op);
  }

  private sendDurable(payload: SessionMessage['payload']): Promise<Ack> {
    try {
      this.checkOutbox();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const message = SessionMessage.fromPartial({ clientMessageId: this.nextMessageId(), payload });
    return new Promise<Ack>((resolve, reject) => {
      this.pending.set(message.clientMessageId, { message, resolve, reject });
      this.checkSynced();
      if (this.currentState === 'connected') this.write(message);
    });
  }

  /** Comments on a line of this client's current text of `path`. Resolves once committed. */
  comment(path: string, line: number, text: string, commentId = ''): Promise<Ack> {
    const doc = this.docs.get(path);
    return this.sendDurable({
      $case: 'comment',
      value: {
        commentId,
        filePath: path,
        lineNumber: line,
        text,
        action: CommentAction.COMMENT_ACTION_CREATE,
        version: doc?.synced ? doc.version : 0,
      } as Comment,
    });
  }

  reply(parentId: string, text: string): Promise<Ack> {
    return this.sendDurable({
      $case: 'comment',
      value: { parentId, text, action: CommentAction.COMMENT_ACTION_REPLY } as Comment,
    });
  }

  editComment(commentId: string, text: string): Promise<Ack> {
    return this.sendDurable({
      $case: 'comment',
      value: { commentId, text, action: CommentAction.COMMENT_ACTION_EDIT } as Comment,
    });
  }

  resolve(commentId: string): Promise<Ack> {
    return this.sendDurable({
      $case: 'comment',
      value: { commentId, action: CommentAction.COMMENT_ACTION_RESOLVE } as Comment,
    });
  }

  reopen(commentId: string): Promise<Ack> {
    return this.sendDurable({
      $case: 'comment',
      value: { commentId, action: CommentAction.COMMENT_ACTION_REOPEN } as Comment,
    });
  }

  /** Moves this participant's cursor (ephemeral: only the latest is sent, also after a reconnect). */
  moveCursor(path: string, line: number, column: number): void {
    this.cursor = { path, line, column };
    const doc = this.docs.get(path);
    if (this.currentState !== 'connected' || !doc) return;
    this.write(
      SessionMessage.fromPartial({
        payload: {
          $case: 'cursor',
          value: { filePath: path, line, column, version: doc.synced ? doc.version : 0 },
        },
      }),
    );
  }

  setPresence(status: 'active' | 'idle'): void {
    if (this.currentState !== 'connected') return;
    const value = status === 'active' ? PresenceUpdate_Status.ACTIVE : PresenceUpdate_Status.IDLE;
    this.write(SessionMessage.fromPartial({ payload: { $case: 'presence', value: { status: value } } }));
  }

  /** Reads the session's state from the server (unary, with a deadline, cancellable). */
  async getSession(options: { deadlineMs?: number; signal?: AbortSignal } = {}): Promise<GetSessionResponse> {
    const target = this.options.targets[this.nextTarget % this.options.targets.length]!;
    const deadline = Date.now() + (options.deadlineMs ?? this.options.deadlineMs ?? 5000);
    const metadata = await this.callMetadata();
    return new Promise((resolve, reject) => {
      const call = this.grpcClient(target).getSession(
        { sessionId: this.options.sessionId },
        metadata,
        { deadline },
        (err, res) => {
          if (err) {
            const d = detailsOfMetadata(err.metadata);
            reject(new LiveReviewCallError(err.code, d.reason, err.details));
          } else resolve(res);
        },
      );
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  /** Leaves the session and releases everything. Pending operations are rejected. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.closing.abort();
    this.call?.end();
    this.call = undefined;
    const err = new LiveReviewCallError(grpc.status.CANCELLED, '', 'client closed');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.setState('closed');
    this.closeClients();
  }

  private closeClients(): void {
    // Give the half-close a moment to reach the server before the channel goes.
    const clients = [...this.grpcClients.values()];
    this.grpcClients.clear();
    setTimeout(() => clients.forEach((c) => c.close()), 100).unref();
  }
}
