// codereview.v1.CodeReviewService on grpc-js: the service definition (with serializers that pass
// pre-encoded bytes through, and a deserializer that never throws) and the handlers.
import type {
  sendUnaryData,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { asLiveReviewError, invalidJoin, invalidMessage } from '../../core/errors.js';
import { Connection } from '../connection.js';
import type { Origin } from '../../core/model.js';
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
} from '../codec.js';
import { countError, type TransportContext } from '../context.js';
import { fileBaseFromWire, reviewOfSessionToWire } from '../review-codec.js';
import { authorizationOf, correlate } from './call-metadata.js';
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
      .authenticate(authorizationOf(call), userOf(request))
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
        const page = { size: req.pageSize, token: req.pageToken };
        const s = await engine.getSession(req.sessionId, page, signal);
        return GetSessionResponse.fromPartial({
          sessionId: s.sessionId,
          headSequence: s.headSequence,
          files: s.files.map(fileToWire),
          comments: s.comments.map(commentToWire),
          roster: s.roster.map(participantToWire),
          cursors: s.cursors.map(cursorToWire),
          nextPageToken: s.nextPageToken,
          ...(s.review ? reviewOfSessionToWire(s.review) : {}),
        });
      },
    ),

    listComments: unary(
      ctx,
      'ListComments',
      () => '',
      async (req: ListCommentsRequest, principal, signal) => {
        auth.roleIn(principal, req.sessionId);
        const page = { size: req.pageSize, token: req.pageToken };
        const r = await engine.listComments(req.sessionId, req.filePath, req.includeResolved, page, signal);
        return ListCommentsResponse.fromPartial({
          comments: r.comments.map(commentToWire),
          headSequence: r.headSequence,
          nextPageToken: r.nextPageToken,
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

/** Subscribe: a receive-only Connection, from a position, then live. A Subscribe call cannot take
 * a fresh token: it ends UNAUTHENTICATED at the token's expiry (after a `reauthenticate` ahead of
 * it) and the client subscribes again, resuming from its last sequence number. */
function subscribe(
  ctx: TransportContext,
  call: ServerWritableStream<SubscribeRequest | Undecodable, Buffer>,
): void {
  const connection = new Connection(
    ctx,
    {
      write: (bytes) => call.write(bytes),
      onceDrain: (fn) => call.once('drain', fn),
      end: (error) => (error ? call.emit('error', toGrpcStatus(error)) : call.end()),
    },
    {
      method: 'Subscribe',
      authorization: authorizationOf(call),
      log: ctx.logger.child({ cid: correlate(call), method: 'Subscribe', peer: call.getPeer() }),
      encoderFor: () => ctx.encoders.subscribe,
    },
  );
  call.on('cancelled', () => connection.gone('cancelled'));
  const req = call.request;
  if (isUndecodable(req)) return connection.fail(malformedRequest('SubscribeRequest', req.problem));
  if (!req.sessionId) return connection.fail(invalidJoin('session_id', 'is required'));
  void connection.join({
    sessionId: req.sessionId,
    claimedUserId: req.userId,
    clientId: req.clientId,
    displayName: '',
    resumeAfter: req.resumeAfterSequence,
    capabilities: [],
    vocabulary: 'full',
  });
}
