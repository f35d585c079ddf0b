// CollaborativeSession: one bidirectional stream = one participant.
//
// Lifecycle: open -> first message joins (a seed presence JOINED, a `join`, or any message carrying
// session_id and user_id) -> messages in both directions -> it ends on half-close (LEFT, what is
// queued is delivered, status OK), cancellation or deadline (LEFT, everything released), a client
// presence LEFT, a slow-consumer cut-off or shutdown (a resumable status).
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { invalidJoin, LiveReviewError, asLiveReviewError } from '../../core/errors.js';
import type { Participant } from '../../core/participant.js';
import type { Role } from '../../core/roles.js';
import type { Principal } from '../../security/tokens.js';
import type { SessionMessage } from '../../gen/codereview/v1/codereview.js';
import type { Logger } from '../../observability/logger.js';
import { isUndecodable, parseInbound, type Inbound, type Undecodable } from './codec.js';
import { correlate, countError, outboundObserver, type TransportContext } from './context.js';
import { OutboundQueue } from './outbound-queue.js';
import { toGrpcStatus } from './status.js';

type Call = ServerDuplexStream<SessionMessage | Undecodable, Buffer>;

export function collaborativeSessionHandler(ctx: TransportContext) {
  return (call: Call) => new SessionStream(ctx, call).start();
}

/** setTimeout's largest delay; longer waits are clamped. */
const MAX_TIMER_MS = 2 ** 31 - 1;

class SessionStream {
  private state: 'awaiting-join' | 'joining' | 'joined' | 'closing' | 'ended' = 'awaiting-join';
  private participant: Participant | undefined;
  private queue: OutboundQueue | undefined;
  private readonly early: (SessionMessage | Undecodable)[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private paused = false;
  private endingWithStatus = false;
  private readonly startedAt = Date.now();
  private readonly log: Logger;
  private joinTimer: NodeJS.Timeout | undefined;
  private principal: Principal | undefined;
  /** Joined the seed's way: refusals cannot be sent to it in-stream (logged and counted). */
  private seed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly ctx: TransportContext,
    private readonly call: Call,
  ) {
    const cid = correlate(call);
    this.log = ctx.logger.child({ cid, method: 'CollaborativeSession', peer: call.getPeer() });
  }

  start(): void {
    this.ctx.metrics.activeStreams.labels('CollaborativeSession').inc();
    this.log.debug('stream opened');
    this.call.on('data', (m: SessionMessage | Undecodable) => this.onData(m));
    this.call.on('end', () => void this.onHalfClose());
    this.call.on('cancelled', () => this.onGone('cancelled'));
    this.call.on('error', (err) => {
      if (!this.endingWithStatus) this.onGone(`error: ${err.message}`);
    });
    this.joinTimer = setTimeout(() => {
      if (this.state === 'awaiting-join') {
        this.fail(invalidJoin('session_id', `no join message within ${this.ctx.limits.joinTimeoutMs} ms`));
      }
    }, this.ctx.limits.joinTimeoutMs);
    this.joinTimer.unref();
  }

  private onData(m: SessionMessage | Undecodable): void {
    switch (this.state) {
      case 'awaiting-join':
        void this.join(m);
        return;
      case 'joining':
        this.early.push(m);
        this.applyBackPressure();
        return;
      case 'joined':
        this.handle(m);
        return;
      default:
        return; // closing or ended: nothing more is processed
    }
  }

  private async join(m: SessionMessage | Undecodable): Promise<void> {
    this.state = 'joining';
    clearTimeout(this.joinTimer);
    this.joinTimer = undefined; // a cleared Timeout still holds its closure while referenced
    let inbound: Inbound;
    try {
      if (isUndecodable(m)) throw invalidJoin('payload', `undecodable first message: ${m.problem}`);
      if (!m.sessionId) throw invalidJoin('session_id', 'the first message must carry session_id');

      inbound = parseInbound(m);
    } catch (err) {
      const e = asLiveReviewError(err);
      this.fail(
        e.reason === 'INVALID_MESSAGE' ? new LiveReviewError('INVALID_JOIN', e.message, e.details) : e,
      );
      return;
    }
    const { ctx } = this;
    let userId: string;
    let role: Role;
    try {
      this.principal = await ctx.auth.authenticate(this.call.metadata, m.userId);
      userId = this.principal.userId;
      // With a token the user comes from it; in development mode the join must name one.
      if (!userId) throw invalidJoin('user_id', 'the first message must carry user_id');
      role = ctx.auth.roleIn(this.principal, m.sessionId);
    } catch (err) {
      this.fail(asLiveReviewError(err));
      return;
    }
    // Gone while authenticating: nothing to answer. Half-closed (a join sent with its half-close,
    // as a one-shot client does): the join completes and the stream ends OK after the welcome.
    if (this.gone) return;
    const join = inbound.kind === 'join' ? inbound : undefined;
    // A seed client (presence JOINED, or a command, as its first message) understands the seed's
    // payloads only: it is brought up to date and followed in those.
    this.seed = join?.seed ?? true;
    const queue = new OutboundQueue(
      {
        write: (bytes) => this.call.write(bytes),
        onceDrain: (fn) => this.call.once('drain', fn),
        end: (error) => this.endCall(error),
      },
      this.seed ? ctx.encoders.seed : ctx.encoders.session,
      ctx.limits,
      outboundObserver(ctx),
    );
    this.queue = queue;
    try {
      const { participant, welcome } = await ctx.engine.join({
        sessionId: m.sessionId,
        userId,
        role,
        clientId: join?.clientId ?? '',
        displayName: join?.displayName ?? '',
        resumeAfter: join?.resumeAfter,
        capabilities: join?.capabilities,
        vocabulary: this.seed ? 'seed' : 'full',
        sink: queue,
      });
      if (this.state !== 'joining') {
        // The call ended (or half-closed) while the join was being handled.
        ctx.engine.leave(participant);
        if (this.state === 'closing') queue.close();
        return;
      }
      this.participant = participant;
      ctx.metrics.participants.inc();
      ctx.liveStreams.add(this);
      this.armTokenTimers();
      if (ctx.limits.maxStreamDurationMs > 0) {
        this.after(ctx.limits.maxStreamDurationMs, () =>
          this.fail(
            new LiveReviewError(
              'STREAM_DURATION_EXCEEDED',
              'this stream reached its maximum duration; resume on a new one',
              {
                quotaViolations: [
                  {
                    subject: 'stream',
                    description: `at most ${ctx.limits.maxStreamDurationMs} ms per stream`,
                  },
                ],
                retryAfterMs: 0,
              },
            ),
          ),
        );
      }
      this.log.info(
        {
          session: m.sessionId,
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
      return;
    }
    this.state = 'joined';
    // A seed client may join with an edit or comment as its first message: handle it too.
    if (inbound.kind === 'command') this.handle(m);
    for (const early of this.early.splice(0)) this.handle(early);
  }

  /** Read through a getter: TypeScript narrows `state` across the awaits in join(). */
  private get gone(): boolean {
    return this.state === 'ended';
  }

  private handle(m: SessionMessage | Undecodable): void {
    const p = this.participant!;
    const clientMessageId = isUndecodable(m) ? '' : m.clientMessageId;
    let inbound: Inbound;
    try {
      if (isUndecodable(m))
        throw new LiveReviewError('MALFORMED_MESSAGE', `undecodable message: ${m.problem}`);
      if (m.sessionId && m.sessionId !== p.sessionId) {
        throw new LiveReviewError(
          'SESSION_MISMATCH',
          `this stream joined ${JSON.stringify(p.sessionId)}, not ${JSON.stringify(m.sessionId)}`,
          {
            fieldViolations: [
              { field: 'session_id', description: `must be empty or ${JSON.stringify(p.sessionId)}` },
            ],
          },
        );
      }
      if (m.userId && m.userId !== p.userId) {
        throw new LiveReviewError(
          'USER_MISMATCH',
          `user_id ${JSON.stringify(m.userId)} is not this stream's user`,
          {
            fieldViolations: [
              { field: 'user_id', description: `must be empty or ${JSON.stringify(p.userId)}` },
            ],
          },
        );
      }
      inbound = parseInbound(m);
      this.ctx.metrics.countReceived(m.payload?.$case ?? 'none');
    } catch (err) {
      this.sendError(clientMessageId, asLiveReviewError(err));
      return;
    }
    if (inbound.kind === 'leave') {
      void this.onHalfClose();
      return;
    }
    if (inbound.kind === 'join') {
      if (m.payload?.$case === 'presence') return; // a seed client repeating JOINED: harmless
      this.sendError(
        clientMessageId,
        new LiveReviewError('ALREADY_JOINED', `this stream already joined ${JSON.stringify(p.sessionId)}`),
      );
      return;
    }
    if (inbound.kind === 'token_refresh') {
      void this.refresh(inbound.token, clientMessageId);
      return;
    }
    const command = inbound.command;
    const work = this.ctx.engine.submit(p, clientMessageId, command).then(
      () => undefined,
      (err: unknown) => this.sendError(clientMessageId, asLiveReviewError(err)),
    );
    this.inflight.add(work);
    this.applyBackPressure();
    void work.finally(() => {
      this.inflight.delete(work);
      this.applyBackPressure();
    });
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        fn();
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
    timer.unref();
    this.timers.add(timer);
  }

  private clearTokenTimers = (): void => undefined;

  /** Ahead of the token's expiry: ask for a fresh one; at expiry without one: end UNAUTHENTICATED. */
  private armTokenTimers(): void {
    this.clearTokenTimers();
    const p = this.principal;
    if (!p || !Number.isFinite(p.expiresAt)) return;
    const remaining = p.expiresAt - Date.now();
    const ask = setTimeout(
      () =>
        this.queue?.send({
          type: 'reauthenticate',
          sessionId: this.participant?.sessionId ?? '',
          expiresAt: p.expiresAt,
        }),
      Math.min(MAX_TIMER_MS, Math.max(0, remaining - this.ctx.limits.refreshAheadMs)),
    );
    const expire = setTimeout(
      () => {
        if (this.principal === p)
          this.fail(new LiveReviewError('TOKEN_EXPIRED', 'the stream token expired without a refresh'));
      },
      Math.min(MAX_TIMER_MS, Math.max(0, remaining)),
    );
    ask.unref();
    expire.unref();
    this.clearTokenTimers = () => {
      clearTimeout(ask);
      clearTimeout(expire);
    };
  }

  /** A fresh token inside the stream: same user; the role is read again from it. */
  private async refresh(token: string, clientMessageId: string): Promise<void> {
    const p = this.participant!;
    try {
      const fresh = await this.ctx.auth.refresh(token, this.principal!);
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

  /** Stops reading while too much is unprocessed, so HTTP/2 flow control pushes back on the sender. */
  private applyBackPressure(): void {
    const pending = this.inflight.size + this.early.length;
    const max = this.ctx.limits.maxInflight;
    if (!this.paused && pending >= max) {
      this.paused = true;
      this.call.pause();
    } else if (this.paused && pending <= max / 2) {
      this.paused = false;
      this.call.resume();
    }
  }

  private sendError(clientMessageId: string, err: LiveReviewError): void {
    countError(this.ctx, err);
    if (err.reason === 'INTERNAL') this.log.error({ err, clientMessageId }, 'internal error on a message');
    else if (this.seed)
      this.log.info(
        { reason: err.reason, code: err.code, message: err.message },
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

  /** Half-close (or presence LEFT): finish what was sent, leave, deliver what is queued, end OK. */
  private async onHalfClose(): Promise<void> {
    if (this.state === 'closing' || this.state === 'ended') return;
    const joining = this.state === 'joining';
    this.state = 'closing';
    if (joining || !this.participant) {
      // Never joined (or the join is still running; join() notices the state and leaves).
      if (!joining) this.endCall(undefined);
      return;
    }
    await Promise.allSettled([...this.inflight]);
    this.release();
    this.queue!.close();
  }

  /** Cancelled, deadline exceeded, or the connection broke: release everything now. */
  private onGone(why: string): void {
    if (this.state === 'ended') return;
    this.log.info({ why }, 'stream gone');
    this.queue?.abandon();
    this.release();
    this.finishMetrics();
  }

  private fail(err: LiveReviewError): void {
    this.log.info({ reason: err.reason, code: err.code, message: err.message }, 'stream refused');
    if (this.queue) this.queue.close(err);
    else this.endCall(err);
    this.release();
  }

  private released = false;
  private release(): void {
    clearTimeout(this.joinTimer);
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
    if (this.endingWithStatus) return;
    this.endingWithStatus = true;
    if (error) {
      countError(this.ctx, error);
      this.log.info({ reason: error.reason, code: error.code }, 'stream ended with status');
      this.call.emit('error', toGrpcStatus(error));
    } else {
      this.log.info('stream ended');
      this.call.end();
    }
    this.release();
    this.finishMetrics();
  }

  private metricsDone = false;
  private finishMetrics(): void {
    if (this.metricsDone) return;
    this.metricsDone = true;
    this.state = 'ended';
    this.ctx.metrics.activeStreams.labels('CollaborativeSession').dec();
    this.ctx.metrics.streamDuration
      .labels('CollaborativeSession')
      .observe((Date.now() - this.startedAt) / 1000);
  }
}
