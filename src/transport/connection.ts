// One participant's connection, whatever carries it (a gRPC bidi stream, a gRPC or Connect
// Subscribe call): authentication, the join or resume, catch-up and back-pressure (the engine and
// the outbound queue), token expiry and refresh, the stream duration limit, re-checks for revoked
// tokens and changed grants, and every way it ends. Transports are thin adapters: they decode what
// arrives, hand it here, and carry the bytes and the final status this produces.
import { asLiveReviewError, invalidJoin, LiveReviewError } from '../core/errors.js';
import type { Command, Outbound } from '../core/model.js';
import type { Participant } from '../core/participant.js';
import type { Role } from '../core/roles.js';
import type { Logger } from '../observability/logger.js';
import type { Principal } from '../security/tokens.js';
import { countError, outboundObserver, type TransportContext } from './context.js';
import { OutboundQueue } from './outbound-queue.js';

/** How a connection reaches its client. */
export interface ConnectionWire {
  /** Writes one encoded message; false means "buffer full, wait for drain". */
  write(bytes: Buffer): boolean;
  /** What it writes are whole frames of its wire format: several may go as one write. */
  joinable?: boolean;
  onceDrain(fn: () => void): void;
  /** Ends the call: OK, or with the error's status. Called once. */
  end(error?: LiveReviewError): void;
  /** Stops and resumes reading the client's messages, so that flow control pushes back on a sender
   * whose messages pile up unprocessed (absent for receive-only calls). */
  pauseReading?(): void;
  resumeReading?(): void;
}

export interface ConnectionJoin {
  sessionId: string;
  /** The user the client names ('' when none: then the token's). */
  claimedUserId: string;
  /** The client's id ('' for a seed client: one is made up). */
  clientId: string;
  displayName: string;
  resumeAfter: number | undefined;
  capabilities: readonly string[];
  /** 'seed': joined the seed's way; everything it receives is in the seed's vocabulary. */
  vocabulary: 'seed' | 'full';
}

/** What a Subscribe request joins with, on any transport: a full-vocabulary participant from the
 * request's position. */
export function subscribeJoin(req: {
  sessionId: string;
  userId: string;
  clientId: string;
  resumeAfterSequence?: number | undefined;
}): ConnectionJoin {
  return {
    sessionId: req.sessionId,
    claimedUserId: req.userId,
    clientId: req.clientId,
    displayName: '',
    resumeAfter: req.resumeAfterSequence,
    capabilities: [],
    vocabulary: 'full',
  };
}

/** setTimeout's largest delay; longer waits are clamped. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Connection {
  private state: 'new' | 'joining' | 'joined' | 'closing' | 'ended' = 'new';
  private participant: Participant | undefined;
  private queue: OutboundQueue | undefined;
  private principal: Principal | undefined;
  private vocabulary: 'seed' | 'full' = 'full';
  /** Messages submitted and not yet answered. A count, not a set of their promises: adding to and
   * deleting from a long-lived Set for every message makes V8 rebuild its table in the old
   * generation (docs/benchmarks.md, "2026-12-03, afternoon: the p99 was the major collections"). */
  private inflight = 0;
  /** Called when the last message in flight is answered (halfClose waits for it). */
  private drained: (() => void) | undefined;
  private paused = false;
  /** Waiting for the outbound queue to have room again (then reading resumes). */
  private awaitingRoom = false;
  private readonly startedAt = Date.now();
  private readonly timers = new Set<NodeJS.Timeout>();
  private clearTokenTimers = (): void => undefined;
  private ending = false;
  private metricsDone = false;

  constructor(
    private readonly ctx: TransportContext,
    private readonly wire: ConnectionWire,
    private readonly options: {
      /** For metrics and logs: CollaborativeSession, Subscribe. */
      method: string;
      /** The call's authorization header. */
      authorization: string | undefined;
      log: Logger;
      /** The bytes of an outbound message for this client (undefined: not sent to it). */
      encoderFor(
        vocabulary: 'seed' | 'full',
        capabilities: readonly string[],
      ): (msg: Outbound) => Buffer | undefined;
    },
  ) {
    ctx.metrics.activeStreams.labels(options.method).inc();
  }

  private get log(): Logger {
    return this.options.log;
  }

  /** Joined and not ended: messages of the client can be handled. */
  get joined(): boolean {
    return this.state === 'joined';
  }

  /** Read through a getter: TypeScript narrows `state` across the awaits in join(). */
  private get isEnded(): boolean {
    return this.state === 'ended';
  }

  /** Authenticates and joins. Resolves true once joined (then send() and friends apply); false
   * when the connection ended instead (with a status already sent, or the client gone). */
  async join(request: ConnectionJoin): Promise<boolean> {
    if (this.state !== 'new') return false;
    this.state = 'joining';
    const { ctx } = this;
    let role: Role;
    let userId: string;
    try {
      this.principal = await ctx.auth.authenticate(this.options.authorization, request.claimedUserId);
      userId = this.principal.userId;
      // With a token the user comes from it; in development mode the join must name one.
      if (!userId) throw invalidJoin('user_id', 'the join must name user_id');
      role = ctx.auth.roleIn(this.principal, request.sessionId);
    } catch (err) {
      this.fail(asLiveReviewError(err));
      return false;
    }
    // Gone while authenticating: nothing to answer. Half-closed (a join sent with its half-close,
    // as a one-shot client does): the join completes and the stream ends OK after the welcome.
    if (this.isEnded) return false;
    this.vocabulary = request.vocabulary;
    const queue = new OutboundQueue(
      {
        write: (bytes) => this.wire.write(bytes),
        joinable: this.wire.joinable,
        onceDrain: (fn) => this.wire.onceDrain(fn),
        end: (error) => this.endCall(error),
      },
      this.options.encoderFor(request.vocabulary, request.capabilities),
      ctx.limits,
      outboundObserver(ctx),
    );
    this.queue = queue;
    try {
      const { participant, welcome } = await ctx.engine.join({
        sessionId: request.sessionId,
        userId,
        role,
        clientId: request.clientId,
        displayName: request.displayName,
        resumeAfter: request.resumeAfter,
        capabilities: request.capabilities,
        vocabulary: request.vocabulary,
        sink: queue,
      });
      if (this.state !== 'joining') {
        // The call ended (or half-closed) while the join was being handled.
        ctx.engine.leave(participant);
        if (this.state === 'closing') queue.close();
        return false;
      }
      this.participant = participant;
      ctx.metrics.participants.inc();
      ctx.liveStreams.add(this);
      this.armTokenTimers();
      this.armDurationLimit();
      this.log.info(
        {
          session: request.sessionId,
          user: userId,
          role,
          participant: participant.id,
          sync: welcome.sync,
          head: welcome.headSequence,
        },
        'joined',
      );
    } catch (err) {
      this.fail(asLiveReviewError(err));
      return false;
    }
    this.state = 'joined';
    return true;
  }

  /** A client message that asks for something (edit, comment, cursor, presence): handled in order;
   * the ack or the refusal reaches the client in-stream. */
  submit(clientMessageId: string, command: Command): void {
    const p = this.participant;
    if (!p || this.state !== 'joined') return;
    // One promise per message: its handlers do the bookkeeping that a .finally() would chain on.
    void this.ctx.engine.submit(p, clientMessageId, command).then(
      () => this.untrack(),
      (err: unknown) => {
        this.sendError(clientMessageId, asLiveReviewError(err));
        this.untrack();
      },
    );
    this.inflight++;
    this.track();
  }

  /** A message after the join may name the session and user only if they are this connection's. */
  checkAddressing(sessionId: string, userId: string): void {
    const p = this.participant!;
    if (sessionId && sessionId !== p.sessionId) {
      throw new LiveReviewError(
        'SESSION_MISMATCH',
        `this stream joined ${JSON.stringify(p.sessionId)}, not ${JSON.stringify(sessionId)}`,
        {
          fieldViolations: [
            { field: 'session_id', description: `must be empty or ${JSON.stringify(p.sessionId)}` },
          ],
        },
      );
    }
    if (userId && userId !== p.userId) {
      throw new LiveReviewError(
        'USER_MISMATCH',
        `user_id ${JSON.stringify(userId)} is not this stream's user`,
        {
          fieldViolations: [
            { field: 'user_id', description: `must be empty or ${JSON.stringify(p.userId)}` },
          ],
        },
      );
    }
  }

  /** Counts unprocessed work; beyond the limit the wire stops reading (HTTP/2 flow control then
   * pushes back on the sender). `extra`: messages the transport holds itself (before the join).
   *
   * It also stops reading while the participant's own outbound queue is congested: a client that
   * does not keep up with what the session sends it adds nothing to it until it does. When every
   * participant types faster than the server can deliver (overload), the session slows to what
   * the server carries instead of cutting every stream off as a slow consumer; a client that only
   * reads and falls behind is still cut off by its queue's bounds. */
  track(extra = 0): void {
    const pending = this.inflight + extra;
    const max = this.ctx.limits.maxInflight;
    const congested = this.queue?.congested === true;
    if (congested && !this.awaitingRoom) {
      this.awaitingRoom = true;
      void this.queue!.ready().then(() => {
        this.awaitingRoom = false;
        this.track();
      });
    }
    if (!this.paused && (pending >= max || congested)) {
      this.paused = true;
      if (congested) this.ctx.metrics.congestionPauses.inc();
      this.wire.pauseReading?.();
    } else if (this.paused && pending <= max / 2 && !congested) {
      this.paused = false;
      this.wire.resumeReading?.();
    }
  }

  private untrack(): void {
    if (--this.inflight === 0) this.drained?.();
    this.track();
  }

  /** A refusal of one message: in-stream (the session goes on). A seed client has no in-stream
   * error message: it is logged and counted (the encoder withholds it). */
  sendError(clientMessageId: string, err: LiveReviewError): void {
    countError(this.ctx, err);
    if (err.reason === 'INTERNAL') this.log.error({ err, clientMessageId }, 'internal error on a message');
    else if (this.vocabulary === 'seed')
      this.log.info(
        { reason: err.reason, code: err.code, message: err.message.slice(0, 256) },
        'message of a seed client refused (it has no in-stream error message: logged and counted)',
      );
    else this.log.debug({ reason: err.reason, clientMessageId }, 'message refused');
    this.queue?.send({
      type: 'error',
      sessionId: this.participant?.sessionId ?? '',
      clientMessageId,
      error: err,
    });
  }

  /** A fresh token inside the stream: same user; the role is read again from it. */
  async refreshToken(token: string, clientMessageId: string): Promise<void> {
    const p = this.participant;
    if (!p || !this.principal) return;
    try {
      const fresh = await this.ctx.auth.refresh(token, this.principal);
      const role = this.ctx.auth.roleIn(fresh, p.sessionId);
      this.principal = fresh;
      p.role = role;
      this.armTokenTimers();
      this.log.info({ expiresAt: fresh.expiresAt, role }, 'token refreshed');
      this.queue?.send({
        type: 'ack',
        sessionId: p.sessionId,
        ack: { clientMessageId, sequence: 0, version: 0, path: '', commentId: '', line: 0, duplicate: false },
      });
    } catch (err) {
      const e = asLiveReviewError(err);
      // A bad refresh leaves the current token in force until it expires; a revoked, forbidden or
      // different user is cut off now.
      if (e.reason === 'TOKEN_REVOKED' || e.reason === 'SESSION_FORBIDDEN' || e.reason === 'USER_MISMATCH')
        this.fail(e);
      else this.sendError(clientMessageId, e);
    }
  }

  /** Periodic re-check: a revoked token ends the stream; a changed grant changes the role. */
  recheck(): void {
    const p = this.participant;
    if (!p || !this.principal || this.state !== 'joined') return;
    try {
      p.role = this.ctx.auth.recheck(this.principal, p.sessionId);
    } catch (err) {
      this.fail(asLiveReviewError(err));
    }
  }

  /** The client is done sending (half-close, presence LEFT): finish what it sent, leave, deliver
   * what is queued, end OK. */
  async halfClose(): Promise<void> {
    if (this.state === 'closing' || this.state === 'ended') return;
    const before = this.state;
    this.state = 'closing';
    if (before === 'joining') return; // join() notices and ends the call after its welcome
    if (before === 'new' || !this.participant) {
      this.endCall(undefined);
      return;
    }
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.release();
    this.queue!.close();
  }

  /** Cancelled, deadline exceeded, or the connection broke: release everything now. */
  gone(why: string): void {
    if (this.state === 'ended') return;
    this.log.info({ why }, 'stream gone');
    this.queue?.abandon();
    this.release();
    this.finishMetrics();
  }

  /** Ends the connection with a status (what is queued is dropped: the client resumes). */
  fail(err: LiveReviewError): void {
    this.log.info(
      { reason: err.reason, code: err.code, message: err.message.slice(0, 256) },
      'stream refused',
    );
    if (this.queue) this.queue.close(err);
    else this.endCall(err);
    this.release();
  }

  // ---- timers -----------------------------------------------------------------------------------

  private after(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        fn();
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
    timer.unref();
    this.timers.add(timer);
    return timer;
  }

  /** Ahead of the token's expiry: ask for a fresh one; at expiry without one: end UNAUTHENTICATED. */
  private armTokenTimers(): void {
    this.clearTokenTimers();
    const p = this.principal;
    if (!p || !Number.isFinite(p.expiresAt)) return;
    const remaining = p.expiresAt - Date.now();
    const ask = this.after(remaining - this.ctx.limits.refreshAheadMs, () =>
      this.queue?.send({
        type: 'reauthenticate',
        sessionId: this.participant?.sessionId ?? '',
        expiresAt: p.expiresAt,
      }),
    );
    const expire = this.after(remaining, () => {
      if (this.principal === p)
        this.fail(new LiveReviewError('TOKEN_EXPIRED', 'the stream token expired without a refresh'));
    });
    this.clearTokenTimers = () => {
      for (const t of [ask, expire]) {
        clearTimeout(t);
        this.timers.delete(t);
      }
    };
  }

  private armDurationLimit(): void {
    const max = this.ctx.limits.maxStreamDurationMs;
    if (max <= 0) return;
    this.after(max, () =>
      this.fail(
        new LiveReviewError(
          'STREAM_DURATION_EXCEEDED',
          'this stream reached its maximum duration; resume on a new one',
          {
            quotaViolations: [{ subject: 'stream', description: `at most ${max} ms per stream` }],
            retryAfterMs: 0,
          },
        ),
      ),
    );
  }

  // ---- the end --------------------------------------------------------------------------------

  private released = false;
  private release(): void {
    this.clearTokenTimers();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.ctx.liveStreams.delete(this);
    if (this.participant && !this.released) {
      this.released = true;
      this.ctx.engine.leave(this.participant);
      this.ctx.metrics.participants.dec();
    }
    if (this.state !== 'closing') this.state = 'ended';
  }

  private endCall(error: LiveReviewError | undefined): void {
    if (this.ending) return;
    this.ending = true;
    if (error) {
      countError(this.ctx, error);
      this.log.info({ reason: error.reason, code: error.code }, 'stream ended with status');
    } else {
      this.log.info('stream ended');
    }
    this.wire.end(error);
    this.release();
    this.finishMetrics();
  }

  private finishMetrics(): void {
    if (this.metricsDone) return;
    this.metricsDone = true;
    this.state = 'ended';
    const { method } = this.options;
    this.ctx.metrics.activeStreams.labels(method).dec();
    this.ctx.metrics.streamDuration.labels(method).observe((Date.now() - this.startedAt) / 1000);
  }

  /** Whether the call already ended with a status of its own (the wire's 'error' is our own). */
  get endedWithStatus(): boolean {
    return this.ending;
  }
}
