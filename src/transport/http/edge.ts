// The HTTP edge: one port serving the service to browsers and to anything that speaks HTTP — the
// Connect protocol (JSON and binary) and gRPC-Web — and the web app. It is an adapter like the gRPC
// service: unary calls go through the unary method table (unary-methods.ts) and
// @connectrpc/connect-node; Subscribe is a receive-only Connection (connection.ts) written straight
// to the response (subscribe.ts). The bidirectional CollaborativeSession needs HTTP/2 end to end and
// stays on the gRPC port; browsers use Subscribe plus Submit, with the same resume and idempotency.
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
import { asLiveReviewError, LiveReviewError } from '../../core/errors.js';
import { CodeReviewService } from '../../gen/es/codereview/v1/codereview_pb.js';
import type { Undecodable } from '../codec.js';
import type { TransportContext } from '../context.js';
import { runUnary, type UnaryMethod } from '../unary-methods.js';
import { toConnectError } from './connect-status.js';
import { createHttpSubscribe } from './subscribe.js';
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

  // Subscribe is served past connect-node (subscribe.ts); requests it does not take (a content
  // type neither protocol has, a GET) go on to connect-node, which refuses them.
  const subscribe = createHttpSubscribe(ctx, log, options.maxMessageBytes);
  options.shutdownSignal.addEventListener(
    'abort',
    () => subscribe.closeAll(asLiveReviewError(options.shutdownSignal.reason)),
    { once: true },
  );

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
    if (!subscribe.serve(req, res)) void rpc(req, res);
  };
}
