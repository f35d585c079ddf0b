// The HTTP edge: one port serving the service to browsers and to anything that speaks HTTP — the
// Connect protocol (JSON and binary) and gRPC-Web — and the web app. It is an adapter like the gRPC
// service: unary calls go through the unary method table (unary-methods.ts, served by unary.ts),
// Subscribe is a receive-only Connection (connection.ts, served by subscribe.ts); both are written
// straight to the response. @connectrpc/connect-node answers what neither takes (refusals). The
// bidirectional CollaborativeSession needs HTTP/2 end to end and stays on the gRPC port; browsers
// use Subscribe plus Submit, with the same resume and idempotency.
import { Code, ConnectError, cors, type ConnectRouter, type ServiceImpl } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { asLiveReviewError } from '../../core/errors.js';
import { CodeReviewService } from '../../gen/es/codereview/v1/codereview_pb.js';
import type { TransportContext } from '../context.js';
import type { UnaryMethod } from '../unary-methods.js';
import { createHttpSubscribe } from './subscribe.js';
import { createHttpUnary } from './unary.js';
import type { EdgeHandler, EdgeResponse } from './edge-server.js';
import { WebAssets } from './web-assets.js';

export interface HttpEdgeOptions {
  /** Origins whose pages may call the service ('*': any); the app's own origin always may. */
  corsOrigins: readonly string[];
  /** The built web app (index.html and assets). */
  webRoot: string;
  /** Largest request message accepted, and (with the 4 MiB floor gRPC has) response sent. */
  maxMessageBytes: number;
  /** Aborted at shutdown: open Subscribes end with its reason (UNAVAILABLE), as do the calls
   * connect-node still serves. */
  shutdownSignal: AbortSignal;
}

type ServiceHandlers = Partial<ServiceImpl<typeof CodeReviewService>>;

const ALLOWED_HEADERS = [...cors.allowedHeaders, 'authorization', 'x-request-id'].join(', ');
const EXPOSED_HEADERS = [...cors.exposedHeaders, 'x-request-id', 'retry-after'].join(', ');

export function createHttpEdge(
  ctx: TransportContext,
  methods: Map<string, UnaryMethod>,
  options: HttpEdgeOptions,
): EdgeHandler {
  const log = ctx.logger.child({ transport: 'http' });
  const assets = new WebAssets(options.webRoot);
  const anyOrigin = options.corsOrigins.includes('*');
  const origins = new Set(options.corsOrigins);

  // The calls are served past connect-node (unary.ts, subscribe.ts); requests they do not take go
  // on to connect-node, which refuses them as it always did.
  const unary = createHttpUnary(ctx, methods, log, options.maxMessageBytes);
  const subscribe = createHttpSubscribe(ctx, log, options.maxMessageBytes);
  options.shutdownSignal.addEventListener(
    'abort',
    () => subscribe.closeAll(asLiveReviewError(options.shutdownSignal.reason)),
    { once: true },
  );

  // What connect-node still answers: refusals (a content type neither protocol has, a GET) and a
  // Connect client calling the bidirectional method.
  const service: ServiceHandlers = {
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
    if (!unary.serve(req, res) && !subscribe.serve(req, res)) void rpc(req, res);
  };
}
