// The HTTP edge: one port serving the service to browsers and to anything that speaks HTTP — the
// Connect protocol (JSON and binary) and gRPC-Web, by @connectrpc/connect-node — and the web app.
// It is an adapter like the gRPC service: unary calls go through the unary method table
// (unary-methods.ts), Subscribe is a receive-only Connection (connection.ts). The bidirectional
// CollaborativeSession needs HTTP/2 end to end and stays on the gRPC port; browsers use Subscribe
// plus Submit, with the same resume and idempotency.
import { randomUUID } from 'node:crypto';
import { fromBinary, toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  cors,
  type ConnectRouter,
  type HandlerContext,
  type ServiceImpl,
} from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { invalidJoin, LiveReviewError } from '../../core/errors.js';
import {
  CodeReviewService,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
  type SubscribeRequest as SubscribeRequestEs,
  type SubscribeResponse,
} from '../../gen/es/codereview/v1/codereview_pb.js';
import { SubscribeRequest } from '../../gen/codereview/v1/codereview.js';
import type { Logger } from '../../observability/logger.js';
import { malformedRequest, type Undecodable } from '../codec.js';
import { Connection, subscribeJoin } from '../connection.js';
import type { TransportContext } from '../context.js';
import { runUnary, type UnaryMethod } from '../unary-methods.js';
import { toConnectError } from './connect-status.js';
import { PulledStream } from './subscribe-stream.js';
import type { EdgeHandler, EdgeResponse } from './edge-server.js';
import { WebAssets } from './web-assets.js';

export interface HttpEdgeOptions {
  /** Origins whose pages may call the service ('*': any); the app's own origin always may. */
  corsOrigins: readonly string[];
  /** The built web app (index.html and assets). */
  webRoot: string;
  /** Largest request message accepted, and (with the 4 MiB floor gRPC has) response sent. */
  maxMessageBytes: number;
  /** Aborted at shutdown: every call's signal aborts with it. */
  shutdownSignal: AbortSignal;
}

type ServiceHandlers = Partial<ServiceImpl<typeof CodeReviewService>>;

const ALLOWED_HEADERS = [...cors.allowedHeaders, 'authorization', 'x-request-id'].join(', ');
const EXPOSED_HEADERS = [...cors.exposedHeaders, 'x-request-id', 'retry-after'].join(', ');

/** The call's correlation id: the client's x-request-id, or a new one; echoed in the response. */
function correlate(context: HandlerContext): string {
  const given = context.requestHeader.get('x-request-id');
  const cid = given && given.length <= 128 ? given : randomUUID();
  context.responseHeader.set('x-request-id', cid);
  return cid;
}

const authorizationOf = (context: HandlerContext) => context.requestHeader.get('authorization') ?? undefined;

/** Connect decoded the request into a protobuf-es message (from JSON or binary); the server's
 * handlers take the ts-proto form, decoded from the same bytes (and refused the same way when a
 * value does not fit, such as an int64 beyond 2^53). */
function recode<T>(
  schema: DescMessage,
  message: Message,
  codec: { decode(b: Uint8Array): T },
): T | Undecodable {
  try {
    return codec.decode(toBinary(schema, message));
  } catch (err) {
    return { undecodable: true, problem: (err as Error).message };
  }
}

/** Rejects when the call's deadline passes or the client goes: the answer is then that, at once,
 * as on the gRPC port (work already under way, such as a commit, still completes: a client
 * retrying with the same client_message_id gets its ack). */
function abortOf(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** A failure as Connect sends it: the call's own end (deadline, cancel) as Connect made it. */
function connectErrorOf(err: unknown, context: HandlerContext): ConnectError {
  if (context.signal.aborted && context.signal.reason instanceof ConnectError) return context.signal.reason;
  return err instanceof LiveReviewError ? toConnectError(err) : ConnectError.from(err, Code.Internal);
}

export function createHttpEdge(
  ctx: TransportContext,
  methods: Map<string, UnaryMethod>,
  options: HttpEdgeOptions,
): EdgeHandler {
  const log = ctx.logger.child({ transport: 'http' });
  const assets = new WebAssets(options.webRoot);
  const anyOrigin = options.corsOrigins.includes('*');
  const origins = new Set(options.corsOrigins);

  // A broadcast reaches every recipient as the same encoded bytes (context.ts caches them per
  // message); Connect wants a message object to serialize for each response, so the bytes are
  // decoded once per broadcast, not once per HTTP recipient.
  const decoded = new WeakMap<Buffer, SubscribeResponse>();
  const decodeOnce = (bytes: Buffer): SubscribeResponse => {
    let message = decoded.get(bytes);
    if (!message) decoded.set(bytes, (message = fromBinary(SubscribeResponseSchema, bytes)));
    return message;
  };

  const handlers: Record<string, unknown> = {};
  for (const desc of CodeReviewService.methods) {
    const m = methods.get(desc.name);
    if (desc.methodKind !== 'unary' || !m) continue;
    handlers[desc.localName] = async (request: Message, context: HandlerContext) => {
      const callLog = log.child({ cid: correlate(context), method: m.name });
      const decoded = recode(desc.input, request, m.request);
      try {
        const response = await Promise.race([
          runUnary(ctx, m, decoded, authorizationOf(context), context.signal, callLog),
          abortOf(context.signal),
        ]);
        return fromBinary(desc.output, m.response.encode(response).finish());
      } catch (err) {
        throw connectErrorOf(err, context);
      }
    };
  }
  const service: ServiceHandlers = {
    ...(handlers as ServiceHandlers),
    subscribe: (request, context) => subscribe(ctx, log, request, context, decodeOnce),
    // eslint-disable-next-line require-yield
    async *collaborativeSession() {
      throw new ConnectError(
        'the bidirectional stream needs gRPC over HTTP/2 (the gRPC port); over HTTP use Subscribe and Submit',
        Code.Unimplemented,
      );
    },
  };

  const rpc = connectNodeAdapter({
    routes: (router: ConnectRouter) => router.service(CodeReviewService, service),
    connect: true,
    grpcWeb: true,
    // Real gRPC has its own port (HTTP/2, trailers, the bidirectional stream).
    grpc: false,
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: Math.max(options.maxMessageBytes, 4 * 1024 * 1024),
    shutdownSignal: options.shutdownSignal,
    fallback: (req, res) => {
      if (assets.serve(req, res as EdgeResponse)) return;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
    },
  });

  return (req, res) => {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && (anyOrigin || origins.has(origin));
    if (allowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'origin');
      res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
    }
    if (req.method === 'OPTIONS') {
      if (allowed) {
        res.setHeader('access-control-allow-methods', cors.allowedMethods.join(', '));
        res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
        res.setHeader('access-control-max-age', '7200');
      }
      res.writeHead(204).end();
      return;
    }
    void rpc(req, res);
  };
}

/** Subscribe over HTTP: a receive-only Connection whose messages Connect pulls as the response
 * drains. It ends like the gRPC Subscribe: with a status the client acts on (resume, re-auth). */
async function* subscribe(
  ctx: TransportContext,
  log: Logger,
  request: SubscribeRequestEs,
  context: HandlerContext,
  decode: (bytes: Buffer) => SubscribeResponse,
) {
  const stream = new PulledStream();
  const connection = new Connection(ctx, stream, {
    method: 'Subscribe',
    authorization: authorizationOf(context),
    log: log.child({ cid: correlate(context), method: 'Subscribe' }),
    encoderFor: () => ctx.encoders.subscribe,
  });
  const cancelled = () => connection.gone('cancelled');
  context.signal.addEventListener('abort', cancelled, { once: true });
  const req = recode(SubscribeRequestSchema, request, SubscribeRequest);
  try {
    if ('undecodable' in req) connection.fail(malformedRequest('SubscribeRequest', req.problem));
    else if (!req.sessionId) connection.fail(invalidJoin('session_id', 'is required'));
    else void connection.join(subscribeJoin(req));
    for await (const bytes of stream.messages()) yield decode(bytes);
  } catch (err) {
    throw connectErrorOf(err, context);
  } finally {
    context.signal.removeEventListener('abort', cancelled);
    // The client went away (or the call ended): release the participant now.
    connection.gone('ended');
  }
}
