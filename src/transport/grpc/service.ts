// codereview.v1.CodeReviewService on grpc-js: the service definition (with serializers that pass
// pre-encoded bytes through, and deserializers that never throw) and the handlers: adapters over
// the connection layer (streams) and the unary method table (unary-methods.ts).
import type {
  sendUnaryData,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { invalidJoin, type LiveReviewError } from '../../core/errors.js';
import {
  CodeReviewServiceService,
  SubscribeRequest as SubscribeRequestCodec,
  type SubscribeRequest,
} from '../../gen/codereview/v1/codereview.js';
import {
  decodeSessionMessage,
  isUndecodable,
  malformedRequest,
  tolerantDecoder,
  type Undecodable,
} from '../codec.js';
import { Connection, subscribeJoin } from '../connection.js';
import type { TransportContext } from '../context.js';
import { runUnary, type UnaryMethod } from '../unary-methods.js';
import { authorizationOf, correlate } from './call-metadata.js';
import { preFramed } from './framed-messages.js';
import { collaborativeSessionHandler } from './session-stream.js';
import { toGrpcStatus } from './status.js';
import { frameWriter } from './direct-writes.js';

/** A method's key in the grpc-js service definition: GetSession -> getSession. */
const keyOf = (name: string) => name[0]!.toLowerCase() + name.slice(1);

/** The generated definition, except that streamed responses are written as bytes encoded once per
 * broadcast, and a request that fails to decode reaches the handler as a value (Undecodable), to be
 * answered INVALID_ARGUMENT rather than grpc-js's INTERNAL. */
export function codeReviewServiceDefinition(methods: Map<string, UnaryMethod>): ServiceDefinition {
  const generated = CodeReviewServiceService as unknown as Record<string, object>;
  const unaryDefinitions = Object.fromEntries(
    [...methods.values()].map((m) => [
      keyOf(m.name),
      { ...generated[keyOf(m.name)], requestDeserialize: tolerantDecoder(m.request) },
    ]),
  );
  return {
    ...CodeReviewServiceService,
    collaborativeSession: {
      ...CodeReviewServiceService.collaborativeSession,
      requestDeserialize: decodeSessionMessage,
      responseSerialize: preFramed,
    },
    subscribe: {
      ...CodeReviewServiceService.subscribe,
      requestDeserialize: tolerantDecoder(SubscribeRequestCodec),
      responseSerialize: preFramed,
    },
    ...unaryDefinitions,
  } as unknown as ServiceDefinition;
}

/** Cancellation of a unary call (client cancel or deadline) as an AbortSignal for the engine. */
function abortSignalOf(call: { on(event: 'cancelled', fn: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort());
  return controller.signal;
}

/** A unary method on grpc-js: correlation id, the call's authorization and cancellation, and the
 * error as a call status with its details. */
function grpcUnary(ctx: TransportContext, m: UnaryMethod) {
  return (call: ServerUnaryCall<object | Undecodable, unknown>, callback: sendUnaryData<unknown>) => {
    const log = ctx.logger.child({ cid: correlate(call), method: m.name });
    const signal = abortSignalOf(call);
    runUnary(ctx, m, call.request, authorizationOf(call), signal, log).then(
      (response) => callback(null, response),
      (err: LiveReviewError) => {
        if (!signal.aborted) callback(toGrpcStatus(err));
      },
    );
  };
}

export function codeReviewHandlers(
  ctx: TransportContext,
  methods: Map<string, UnaryMethod>,
): UntypedServiceImplementation {
  return {
    collaborativeSession: collaborativeSessionHandler(ctx),
    subscribe: (call: ServerWritableStream<SubscribeRequest | Undecodable, Buffer>) => subscribe(ctx, call),
    ...Object.fromEntries([...methods.values()].map((m) => [keyOf(m.name), grpcUnary(ctx, m)])),
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
      ...frameWriter(call),
      joinable: true,
      end: (error) => (error ? call.emit('error', toGrpcStatus(error)) : call.end()),
    },
    {
      method: 'Subscribe',
      authorization: authorizationOf(call),
      log: ctx.logger.child({ cid: correlate(call), method: 'Subscribe', peer: call.getPeer() }),
      encoderFor: () => ctx.framedEncoders.subscribe,
    },
  );
  call.on('cancelled', () => connection.gone('cancelled'));
  const req = call.request;
  if (isUndecodable(req)) return connection.fail(malformedRequest('SubscribeRequest', req.problem));
  if (!req.sessionId) return connection.fail(invalidJoin('session_id', 'is required'));
  void connection.join(subscribeJoin(req));
}
