// CollaborativeSession on grpc-js: one bidirectional stream = one participant's Connection.
//
// Lifecycle: open -> first message joins (a seed presence JOINED, a `join`, or any message carrying
// session_id and user_id) -> messages in both directions -> it ends on half-close (LEFT, what is
// queued is delivered, status OK), cancellation or deadline (LEFT, everything released), a client
// presence LEFT, a slow-consumer cut-off or shutdown (a resumable status). What a connection does
// is in ../connection.ts; here: decoding, the join timeout, messages that arrive during the join.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { invalidJoin, LiveReviewError, asLiveReviewError } from '../../core/errors.js';
import type { SessionMessage } from '../../gen/codereview/v1/codereview.js';
import { isUndecodable, parseInbound, type Inbound, type Undecodable } from '../codec.js';
import { Connection } from '../connection.js';
import { OPS_ONLY } from '../../core/engine.js';
import type { TransportContext } from '../context.js';
import { authorizationOf, correlate } from './call-metadata.js';
import { toGrpcStatus } from './status.js';
import { frameWriter } from './direct-writes.js';
import { readMessages, type MessageReader } from './direct-reads.js';

type Call = ServerDuplexStream<SessionMessage | Undecodable, Buffer>;

export function collaborativeSessionHandler(ctx: TransportContext) {
  return (call: Call) => new SessionStream(ctx, call).start();
}

class SessionStream {
  private phase: 'awaiting-join' | 'joining' | 'joined' = 'awaiting-join';
  private readonly connection: Connection;
  private readonly early: (SessionMessage | Undecodable)[] = [];
  private joinTimer: NodeJS.Timeout | undefined;
  /** Reads the call's messages past grpc-js (direct-reads.ts); undefined: grpc-js reads them. */
  private readonly reader: MessageReader | undefined;

  constructor(
    private readonly ctx: TransportContext,
    private readonly call: Call,
  ) {
    const log = ctx.logger.child({
      cid: correlate(call),
      method: 'CollaborativeSession',
      peer: call.getPeer(),
    });
    this.connection = new Connection(
      ctx,
      {
        ...frameWriter(call),
        joinable: true,
        end: (error) => (error ? call.emit('error', toGrpcStatus(error)) : call.end()),
        pauseReading: () => (this.reader ? this.reader.pause() : call.pause()),
        resumeReading: () => (this.reader ? this.reader.resume() : call.resume()),
      },
      {
        method: 'CollaborativeSession',
        authorization: authorizationOf(call),
        log,
        encoderFor: (vocabulary, capabilities) =>
          vocabulary === 'seed'
            ? ctx.framedEncoders.seed
            : capabilities.includes(OPS_ONLY)
              ? ctx.framedEncoders.opsOnly
              : ctx.framedEncoders.session,
      },
    );
    this.reader = readMessages<SessionMessage | Undecodable>(
      call,
      (m) => this.onData(m),
      (err) => log.error({ err }, 'handling a message failed; the stream ends INTERNAL'),
    );
  }

  start(): void {
    // Flowing either way: with the reader, so that grpc-js still delivers the half-close.
    if (this.reader) this.call.resume();
    else this.call.on('data', (m: SessionMessage | Undecodable) => this.onData(m));
    this.call.on('end', () => this.halfClose());
    this.call.on('cancelled', () => this.gone('cancelled'));
    this.call.on('error', (err) => {
      if (!this.connection.endedWithStatus) this.gone(`error: ${err.message}`);
    });
    this.joinTimer = setTimeout(() => {
      if (this.phase === 'awaiting-join') {
        this.connection.fail(
          invalidJoin('session_id', `no join message within ${this.ctx.limits.joinTimeoutMs} ms`),
        );
      }
    }, this.ctx.limits.joinTimeoutMs);
    this.joinTimer.unref();
  }

  private onData(m: SessionMessage | Undecodable): void {
    switch (this.phase) {
      case 'awaiting-join':
        void this.join(m);
        return;
      case 'joining':
        this.early.push(m);
        this.connection.track(this.early.length);
        return;
      case 'joined':
        this.handle(m);
        return;
    }
  }

  private halfClose(): void {
    this.stopJoinTimer();
    void this.connection.halfClose();
  }

  private gone(why: string): void {
    this.stopJoinTimer();
    this.early.length = 0;
    this.connection.gone(why);
  }

  private stopJoinTimer(): void {
    clearTimeout(this.joinTimer);
    this.joinTimer = undefined; // a cleared Timeout still holds its closure while referenced
  }

  private async join(m: SessionMessage | Undecodable): Promise<void> {
    this.phase = 'joining';
    this.stopJoinTimer();
    let inbound: Inbound;
    try {
      if (isUndecodable(m)) throw invalidJoin('payload', `undecodable first message: ${m.problem}`);
      if (!m.sessionId) throw invalidJoin('session_id', 'the first message must carry session_id');
      inbound = parseInbound(m);
    } catch (err) {
      const e = asLiveReviewError(err);
      this.connection.fail(
        e.reason === 'INVALID_MESSAGE' ? new LiveReviewError('INVALID_JOIN', e.message, e.details) : e,
      );
      return;
    }
    const join = inbound.kind === 'join' ? inbound : undefined;
    const joined = await this.connection.join({
      sessionId: m.sessionId,
      claimedUserId: m.userId,
      clientId: join?.clientId ?? '',
      displayName: join?.displayName ?? '',
      resumeAfter: join?.resumeAfter,
      capabilities: join?.capabilities ?? [],
      // A seed client (presence JOINED, or a command, as its first message) understands the seed's
      // payloads only: it is brought up to date and followed in those.
      vocabulary: join?.seed === false ? 'full' : 'seed',
    });
    if (!joined) return;
    this.phase = 'joined';
    // A seed client may join with an edit or comment as its first message: handle it too.
    if (inbound.kind === 'command') this.handle(m);
    for (const early of this.early.splice(0)) this.handle(early);
  }

  private handle(m: SessionMessage | Undecodable): void {
    const c = this.connection;
    if (!c.joined) return; // closing or ended: nothing more is processed
    const clientMessageId = isUndecodable(m) ? '' : m.clientMessageId;
    let inbound: Inbound;
    try {
      if (isUndecodable(m))
        throw new LiveReviewError('MALFORMED_MESSAGE', `undecodable message: ${m.problem}`);
      c.checkAddressing(m.sessionId, m.userId);
      inbound = parseInbound(m);
      this.ctx.metrics.countReceived(m.payload?.$case ?? 'none');
    } catch (err) {
      c.sendError(clientMessageId, asLiveReviewError(err));
      return;
    }
    switch (inbound.kind) {
      case 'leave':
        this.halfClose();
        return;
      case 'join':
        if (m.payload?.$case === 'presence') return; // a seed client repeating JOINED: harmless
        c.sendError(clientMessageId, new LiveReviewError('ALREADY_JOINED', 'this stream already joined'));
        return;
      case 'token_refresh':
        void c.refreshToken(inbound.token, clientMessageId);
        return;
      case 'command':
        c.submit(clientMessageId, inbound.command);
        return;
    }
  }
}
