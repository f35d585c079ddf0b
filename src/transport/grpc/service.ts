// codereview.v1.CodeReviewService on grpc-js: the service definition (with serializers that pass
// pre-encoded bytes through, and a deserializer that never throws) and the handlers.
import type {
  sendUnaryData,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { asLiveReviewError, invalidMessage, LiveReviewError } from '../../core/errors.js';
import type { Origin } from '../../core/model.js';
import {
  CodeReviewServiceService,
  GetSessionResponse,
  ListCommentsResponse,
  OpenReviewResponse,
  SubmitResponse,
  type GetSessionRequest,
  type ListCommentsRequest,
  type OpenReviewRequest,
  type SubmitRequest,
  type SubscribeRequest,
} from '../../gen/codereview/v1/codereview.js';
import {
  ackResponse,
  commentToWire,
  cursorToWire,
  decodeSessionMessage,
  fileToWire,
  parseInbound,
  participantToWire,
} from './codec.js';
import { correlate, countError, outboundObserver, type TransportContext } from './context.js';
import { OutboundQueue } from './outbound-queue.js';
import { collaborativeSessionHandler } from './session-stream.js';
import { toGrpcStatus } from './status.js';

/** The generated definition, except that streamed responses are written as bytes encoded once per
 * broadcast, and a session message that fails to decode reaches the handler as a value. */
export const codeReviewServiceDefinition: ServiceDefinition = {
  ...CodeReviewServiceService,
  collaborativeSession: {
    ...CodeReviewServiceService.collaborativeSession,
    requestDeserialize: decodeSessionMessage,
    responseSerialize: (bytes: Buffer) => bytes,
  },
  subscribe: {
    ...CodeReviewServiceService.subscribe,
    responseSerialize: (bytes: Buffer) => bytes,
  },
} as unknown as ServiceDefinition;

/** Cancellation of a unary call (client cancel or deadline) as an AbortSignal for the engine. */
function abortSignalOf(call: { on(event: 'cancelled', fn: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort());
  return controller.signal;
}

function unary<Req, Res>(
  ctx: TransportContext,
  method: string,
  work: (request: Req, signal: AbortSignal) => Promise<Res>,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const cid = correlate(call);
    const log = ctx.logger.child({ cid, method });
    const signal = abortSignalOf(call);
    work(call.request, signal).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const e = asLiveReviewError(err);
        countError(ctx, e);
        if (e.reason === 'INTERNAL') log.error({ err }, 'internal error');
        else log.debug({ reason: e.reason }, 'call failed');
        if (!signal.aborted) callback(toGrpcStatus(e));
      },
    );
  };
}

export function codeReviewHandlers(ctx: TransportContext): UntypedServiceImplementation {
  const { engine } = ctx;
  return {
    collaborativeSession: collaborativeSessionHandler(ctx),

    openReview: unary(ctx, 'OpenReview', async (req: OpenReviewRequest, signal) => {
      if (req.files.length === 0) throw invalidMessage('files', 'at least one file is required');
      const origin: Origin = {
        userId: req.userId,
        clientId: req.userId,
        clientMessageId: req.clientMessageId,
      };
      const result = await engine.openReview(
        req.sessionId,
        origin,
        req.files.map((f) => ({ path: f.path, text: f.text })),
        signal,
      );
      return OpenReviewResponse.fromPartial({
        sequence: result.sequence,
        files: result.files.map(fileToWire),
      });
    }),

    getSession: unary(ctx, 'GetSession', async (req: GetSessionRequest, signal) => {
      const s = await engine.getSession(req.sessionId, signal);
      return GetSessionResponse.fromPartial({
        sessionId: s.sessionId,
        headSequence: s.headSequence,
        files: s.files.map(fileToWire),
        comments: s.comments.map(commentToWire),
        roster: s.roster.map(participantToWire),
        cursors: s.cursors.map(cursorToWire),
      });
    }),

    listComments: unary(ctx, 'ListComments', async (req: ListCommentsRequest, signal) => {
      const r = await engine.listComments(req.sessionId, req.filePath, req.includeResolved, signal);
      return ListCommentsResponse.fromPartial({
        comments: r.comments.map(commentToWire),
        headSequence: r.headSequence,
      });
    }),

    submit: unary(ctx, 'Submit', async (req: SubmitRequest, signal) => {
      const m = req.message;
      if (!m) throw invalidMessage('message', 'is required');
      const inbound = parseInbound(m);
      if (inbound.kind !== 'command') {
        throw invalidMessage(
          'message.payload',
          'Submit takes an edit, comment, cursor or presence ACTIVE/IDLE',
        );
      }
      const origin: Origin = {
        userId: m.userId,
        clientId: m.clientId || m.userId,
        clientMessageId: m.clientMessageId,
      };
      ctx.metrics.messagesIn.labels(m.payload?.$case ?? 'none').inc();
      const ack = await engine.submitUnary(m.sessionId, origin, inbound.command, signal);
      return SubmitResponse.fromPartial({ ack: ackResponse(ack) });
    }),

    subscribe: (call: ServerWritableStream<SubscribeRequest, Buffer>) => subscribe(ctx, call),
  };
}

/** Subscribe: a receive-only participant, from a position, then live. */
function subscribe(ctx: TransportContext, call: ServerWritableStream<SubscribeRequest, Buffer>): void {
  const cid = correlate(call);
  const log = ctx.logger.child({ cid, method: 'Subscribe', peer: call.getPeer() });
  const started = Date.now();
  ctx.metrics.activeStreams.labels('Subscribe').inc();
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    ctx.metrics.activeStreams.labels('Subscribe').dec();
    ctx.metrics.streamDuration.labels('Subscribe').observe((Date.now() - started) / 1000);
  };
  const queue = new OutboundQueue(
    {
      write: (bytes) => call.write(bytes),
      onceDrain: (fn) => call.once('drain', fn),
      end: (error) => {
        if (error) {
          countError(ctx, error);
          call.emit('error', toGrpcStatus(error));
        } else call.end();
        leave?.();
        finish();
      },
    },
    ctx.encoders.subscribe,
    ctx.limits,
    outboundObserver(ctx),
  );
  const req = call.request;
  let leave: (() => void) | undefined;
  call.on('cancelled', () => {
    queue.abandon();
    leave?.();
    finish();
  });
  if (!req.sessionId || !req.userId) {
    queue.close(
      new LiveReviewError('INVALID_JOIN', 'session_id and user_id are required', {
        fieldViolations: [{ field: req.sessionId ? 'user_id' : 'session_id', description: 'is required' }],
      }),
    );
    return;
  }
  ctx.engine
    .join({
      sessionId: req.sessionId,
      userId: req.userId,
      clientId: req.clientId,
      displayName: '',
      resumeAfter: req.resumeAfterSequence,
      sink: queue,
    })
    .then(
      ({ participant }) => {
        ctx.metrics.participants.inc();
        let left = false;
        leave = () => {
          if (left) return;
          left = true;
          ctx.engine.leave(participant);
          ctx.metrics.participants.dec();
        };
        if (ended || queue.closed) leave();
        log.info({ session: req.sessionId, user: req.userId, participant: participant.id }, 'subscribed');
      },
      (err: unknown) => queue.close(asLiveReviewError(err)),
    );
}
