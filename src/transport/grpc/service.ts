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
import type { Participant } from '../../core/participant.js';
import type { Principal } from '../../security/tokens.js';
import {
  CodeReviewServiceService,
  GetSessionRequest as GetSessionRequestCodec,
  GetSessionResponse,
  ListCommentsRequest as ListCommentsRequestCodec,
  ListCommentsResponse,
  OpenReviewRequest as OpenReviewRequestCodec,
  OpenReviewResponse,
  SubmitRequest as SubmitRequestCodec,
  SubmitResponse,
  SubscribeRequest as SubscribeRequestCodec,
  type GetSessionRequest,
  type ListCommentsRequest,
  type OpenReviewRequest,
  type SubmitRequest,
  type SubscribeRequest,
} from '../../gen/codereview/v1/codereview.js';
import {
  ackToWire,
  commentToWire,
  cursorToWire,
  decodeSessionMessage,
  fileToWire,
  isUndecodable,
  malformedRequest,
  parseInbound,
  participantToWire,
  tolerantDecoder,
  type Undecodable,
} from './codec.js';
import { correlate, countError, outboundObserver, type TransportContext } from './context.js';
import { OutboundQueue } from './outbound-queue.js';
import { fileBaseFromWire, reviewOfSessionToWire } from './review-codec.js';
import { reviewHandlers, reviewMethodDefinitions } from './review-service.js';
import { collaborativeSessionHandler } from './session-stream.js';
import { toGrpcStatus } from './status.js';

/** The generated definition, except that streamed responses are written as bytes encoded once per
 * broadcast, and a request that fails to decode reaches the handler as a value (Undecodable), to be
 * answered INVALID_ARGUMENT rather than grpc-js's INTERNAL. */
export const codeReviewServiceDefinition: ServiceDefinition = {
  ...CodeReviewServiceService,
  collaborativeSession: {
    ...CodeReviewServiceService.collaborativeSession,
    requestDeserialize: decodeSessionMessage,
    responseSerialize: (bytes: Buffer) => bytes,
  },
  subscribe: {
    ...CodeReviewServiceService.subscribe,
    requestDeserialize: tolerantDecoder(SubscribeRequestCodec),
    responseSerialize: (bytes: Buffer) => bytes,
  },
  openReview: {
    ...CodeReviewServiceService.openReview,
    requestDeserialize: tolerantDecoder(OpenReviewRequestCodec),
  },
  getSession: {
    ...CodeReviewServiceService.getSession,
    requestDeserialize: tolerantDecoder(GetSessionRequestCodec),
  },
  listComments: {
    ...CodeReviewServiceService.listComments,
    requestDeserialize: tolerantDecoder(ListCommentsRequestCodec),
  },
  submit: {
    ...CodeReviewServiceService.submit,
    requestDeserialize: tolerantDecoder(SubmitRequestCodec),
  },
  ...reviewMethodDefinitions,
} as unknown as ServiceDefinition;

/** Cancellation of a unary call (client cancel or deadline) as an AbortSignal for the engine. */
function abortSignalOf(call: { on(event: 'cancelled', fn: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort());
  return controller.signal;
}

/**
 * A unary handler: correlation id, authentication (the user comes from the token; `userOf` names
 * the user the request claims, checked against it), cancellation as an AbortSignal for the engine
 * (deadline or client cancel), and the error mapping.
 */
export function unary<Req extends object, Res>(
  ctx: TransportContext,
  method: string,
  userOf: (request: Req) => string,
  work: (request: Req, principal: Principal, signal: AbortSignal) => Promise<Res>,
) {
  return (call: ServerUnaryCall<Req | Undecodable, Res>, callback: sendUnaryData<Res>) => {
    const cid = correlate(call);
    const log = ctx.logger.child({ cid, method });
    const request = call.request;
    if (isUndecodable(request)) {
      const e = malformedRequest(`${method}Request`, request.problem);
      countError(ctx, e);
      log.debug({ reason: e.reason, problem: request.problem }, 'call failed');
      callback(toGrpcStatus(e));
      return;
    }
    const signal = abortSignalOf(call);
    ctx.auth
      .authenticate(call.metadata, userOf(request))
      .then((principal) => work(request, principal, signal))
      .then(
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
  const { engine, auth } = ctx;
  return {
    collaborativeSession: collaborativeSessionHandler(ctx),

    openReview: unary(
      ctx,
      'OpenReview',
      (req: OpenReviewRequest) => req.userId,
      async (req, principal, signal) => {
        if (req.files.length === 0) throw invalidMessage('files', 'at least one file is required');
        const role = auth.roleIn(principal, req.sessionId);
        const origin: Origin = {
          userId: principal.userId,
          clientId: principal.userId,
          clientMessageId: req.clientMessageId,
        };
        const files = req.files.map((f, i) => ({
          path: f.path,
          text: f.text,
          ...(f.base ? { base: fileBaseFromWire(`files[${i}].base`, f.base) } : {}),
        }));
        const result = await engine.openReview(req.sessionId, origin, files, role, signal);
        return OpenReviewResponse.fromPartial({
          sequence: result.sequence,
          files: result.files.map(fileToWire),
        });
      },
    ),

    getSession: unary(
      ctx,
      'GetSession',
      () => '',
      async (req: GetSessionRequest, principal, signal) => {
        auth.roleIn(principal, req.sessionId);
        const s = await engine.getSession(req.sessionId, signal);
        return GetSessionResponse.fromPartial({
          sessionId: s.sessionId,
          headSequence: s.headSequence,
          files: s.files.map(fileToWire),
          comments: s.comments.map(commentToWire),
          roster: s.roster.map(participantToWire),
          cursors: s.cursors.map(cursorToWire),
          ...reviewOfSessionToWire(s.review),
        });
      },
    ),

    listComments: unary(
      ctx,
      'ListComments',
      () => '',
      async (req: ListCommentsRequest, principal, signal) => {
        auth.roleIn(principal, req.sessionId);
        const r = await engine.listComments(req.sessionId, req.filePath, req.includeResolved, signal);
        return ListCommentsResponse.fromPartial({
          comments: r.comments.map(commentToWire),
          headSequence: r.headSequence,
        });
      },
    ),

    submit: unary(
      ctx,
      'Submit',
      (req: SubmitRequest) => req.message?.userId ?? '',
      async (req, principal, signal) => {
        const m = req.message;
        if (!m) throw invalidMessage('message', 'is required');
        const role = auth.roleIn(principal, m.sessionId);
        const inbound = parseInbound(m);
        if (inbound.kind !== 'command') {
          throw invalidMessage(
            'message.payload',
            'Submit takes an edit, comment, cursor or presence ACTIVE/IDLE',
          );
        }
        const origin: Origin = {
          userId: principal.userId,
          clientId: m.clientId || principal.userId,
          clientMessageId: m.clientMessageId,
        };
        ctx.metrics.countReceived(m.payload?.$case ?? 'none');
        const ack = await engine.submitUnary(m.sessionId, origin, inbound.command, role, signal);
        return SubmitResponse.fromPartial({ ack: ackToWire(ack) });
      },
    ),

    subscribe: (call: ServerWritableStream<SubscribeRequest | Undecodable, Buffer>) => subscribe(ctx, call),

    ...reviewHandlers(ctx, unary),
  };
}

/** Subscribe: a receive-only participant, from a position, then live. A Subscribe call cannot take
 * a fresh token: it ends UNAUTHENTICATED at the token's expiry and the client subscribes again,
 * resuming from its last sequence number. */
function subscribe(
  ctx: TransportContext,
  call: ServerWritableStream<SubscribeRequest | Undecodable, Buffer>,
): void {
  const cid = correlate(call);
  const log = ctx.logger.child({ cid, method: 'Subscribe', peer: call.getPeer() });
  const started = Date.now();
  ctx.metrics.activeStreams.labels('Subscribe').inc();
  let participant: Participant | undefined;
  let expiry: NodeJS.Timeout | undefined;
  let ended = false;
  let left = false;
  const leave = () => {
    if (left || !participant) return;
    left = true;
    ctx.engine.leave(participant);
    ctx.metrics.participants.dec();
  };
  const finish = () => {
    if (ended) return;
    ended = true;
    clearTimeout(expiry);
    ctx.liveStreams.delete(recheckable);
    leave();
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
        finish();
      },
    },
    ctx.encoders.subscribe,
    ctx.limits,
    outboundObserver(ctx),
  );
  let principal: Principal | undefined;
  const recheckable = {
    recheck: () => {
      if (!participant || !principal) return;
      try {
        participant.role = ctx.auth.recheck(principal, participant.sessionId);
      } catch (err) {
        queue.close(asLiveReviewError(err));
      }
    },
  };
  call.on('cancelled', () => {
    queue.abandon();
    finish();
  });
  const req = call.request;
  if (isUndecodable(req)) {
    queue.close(malformedRequest('SubscribeRequest', req.problem));
    return;
  }
  if (!req.sessionId) {
    queue.close(
      new LiveReviewError('INVALID_JOIN', 'session_id is required', {
        fieldViolations: [{ field: 'session_id', description: 'is required' }],
      }),
    );
    return;
  }
  ctx.auth
    .authenticate(call.metadata, req.userId)
    .then((p) => {
      principal = p;
      if (!p.userId) {
        throw new LiveReviewError('INVALID_JOIN', 'user_id is required', {
          fieldViolations: [{ field: 'user_id', description: 'is required' }],
        });
      }
      const role = ctx.auth.roleIn(p, req.sessionId);
      if (Number.isFinite(p.expiresAt)) {
        expiry = setTimeout(
          () => queue.close(new LiveReviewError('TOKEN_EXPIRED', 'the token of this Subscribe call expired')),
          Math.min(2 ** 31 - 1, Math.max(0, p.expiresAt - Date.now())),
        );
        expiry.unref();
      }
      return ctx.engine.join({
        sessionId: req.sessionId,
        userId: p.userId,
        role,
        clientId: req.clientId,
        displayName: '',
        resumeAfter: req.resumeAfterSequence,
        sink: queue,
      });
    })
    .then(
      (joined) => {
        participant = joined.participant;
        ctx.metrics.participants.inc();
        if (ended || queue.closed) {
          leave();
          return;
        }
        ctx.liveStreams.add(recheckable);
        log.info(
          { session: req.sessionId, user: participant.userId, participant: participant.id },
          'subscribed',
        );
      },
      (err: unknown) => queue.close(asLiveReviewError(err)),
    );
}
