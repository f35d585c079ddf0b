// The unary methods on the HTTP port (Connect, binary and JSON; gRPC-Web), served here rather than
// by connect-node: a browser sends every keystroke as a Submit. Through connect-node a Submit cost
// the server 3-4x what the same comment cost on a gRPC session stream (650 against 165 µs, mostly
// connect-node's per-call machinery: a handler context with linked abort signals, an abort and its
// DOMException at the end of every call, async iterables for the body, and the request and response
// converted between protobuf-es and the server's ts-proto messages); docs/benchmarks.md,
// "2026-12-06, afternoon".
//
// Each call goes through the unary method table like a gRPC call (runUnary), decoded from the bytes
// received (JSON through protobuf-es to the same bytes first). Connect's answer is the message with
// 200, or its error as JSON with the HTTP status Connect gives the code (connect's own functions);
// gRPC-Web's is the message in its envelope and the trailers. Connect responses of 1 KiB or more
// are gzipped when the client accepts it, as connect-node did.
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { fromBinary, toJsonString, type DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { codeToHttpStatus, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
import { LiveReviewError } from '../../core/errors.js';
import { CodeReviewService } from '../../gen/es/codereview/v1/codereview_pb.js';
import type { Logger } from '../../observability/logger.js';
import type { TransportContext } from '../context.js';
import { frame } from '../framed-encoders.js';
import { runUnary, type UnaryMethod } from '../unary-methods.js';
import {
  armDeadline,
  decodeRequest,
  header,
  ignoreLateWriteError,
  pathOf,
  protocolOf,
  requestIdOf,
  requestMessage,
  type CallProtocol,
} from './call-protocol.js';
import { toConnectError } from './connect-status.js';
import type { EdgeRequest, EdgeResponse } from './edge-server.js';

/** Connect responses at least this large are compressed when the client accepts gzip
 * (connect-node's default). */
const COMPRESS_MIN_BYTES = 1024;
const gzipAsync = promisify(gzip);

interface Route {
  method: UnaryMethod;
  desc: DescMethod;
}

function encodeResponse(route: Route, protocol: CallProtocol, response: unknown): Buffer {
  const bytes = route.method.response.encode(response).finish();
  if (protocol.binary) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Buffer.from(toJsonString(route.desc.output, fromBinary(route.desc.output, bytes)));
}

/** Rejects when the call's deadline passes or the client goes: the answer is then that, at once
 * (work already under way, such as a commit, still completes: a client retrying with the same
 * client_message_id gets its ack). */
function abortOf(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

function connectErrorOf(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return err instanceof LiveReviewError ? toConnectError(err) : ConnectError.from(err, Code.Internal);
}

async function answer(
  req: EdgeRequest,
  res: EdgeResponse,
  protocol: CallProtocol,
  requestId: string,
  outcome: { body: Buffer } | { error: ConnectError },
): Promise<void> {
  const headers: Record<string, string> = { 'x-request-id': requestId };
  if (protocol.kind === 'grpc-web') {
    headers['content-type'] = protocol.contentType;
    const end = protocol.end('error' in outcome ? outcome.error : undefined);
    res.writeHead(200, headers).end('body' in outcome ? Buffer.concat([frame(outcome.body), end]) : end);
    return;
  }
  if ('error' in outcome) {
    outcome.error.metadata.forEach((value, key) => (headers[key] = value));
    headers['content-type'] = 'application/json';
    res
      .writeHead(codeToHttpStatus(outcome.error.code), headers)
      .end(errorToJsonBytes(outcome.error, undefined));
    return;
  }
  let body = outcome.body;
  headers['content-type'] = protocol.contentType;
  if (body.length >= COMPRESS_MIN_BYTES && /\bgzip\b/.test(header(req, 'accept-encoding') ?? '')) {
    body = await gzipAsync(body);
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = String(body.length);
  res.writeHead(200, headers).end(body);
}

export interface HttpUnary {
  /** Serves the request if it is a unary call this handles (false: hand it to connect-node). */
  serve(req: EdgeRequest, res: EdgeResponse): boolean;
}

export function createHttpUnary(
  ctx: TransportContext,
  methods: Map<string, UnaryMethod>,
  log: Logger,
  maxMessageBytes: number,
): HttpUnary {
  const routes = new Map<string, Route>();
  for (const desc of CodeReviewService.methods) {
    const method = methods.get(desc.name);
    if (desc.methodKind === 'unary' && method)
      routes.set(`/${CodeReviewService.typeName}/${desc.name}`, { method, desc });
  }

  async function run(req: EdgeRequest, res: EdgeResponse, route: Route, protocol: CallProtocol) {
    const requestId = requestIdOf(req, randomUUID);
    const callLog = log.child({ cid: requestId, method: route.method.name });
    const call = new AbortController();
    let answered = false;
    let gone = false;
    res.on('error', ignoreLateWriteError);
    res.once('close', () => {
      if (answered) return;
      gone = true;
      call.abort(new ConnectError('the client went away', Code.Canceled));
    });
    let deadline: NodeJS.Timeout | undefined;
    let outcome: { body: Buffer } | { error: ConnectError };
    try {
      deadline = armDeadline(req, protocol, (status) => call.abort(status));
      const bytes = await requestMessage(req, protocol, maxMessageBytes, 'unary');
      const request = decodeRequest(protocol, bytes, route.desc.input, route.method.request);
      const response = await Promise.race([
        runUnary(ctx, route.method, request, header(req, 'authorization') ?? undefined, call.signal, callLog),
        abortOf(call.signal),
      ]);
      outcome = { body: encodeResponse(route, protocol, response) };
    } catch (err) {
      // The call's own end (deadline, the client gone) is the answer, whatever the work made of it.
      const reason: unknown = call.signal.reason;
      outcome = { error: reason instanceof ConnectError ? reason : connectErrorOf(err) };
    } finally {
      clearTimeout(deadline);
    }
    answered = true;
    if (!gone) await answer(req, res, protocol, requestId, outcome);
  }

  return {
    serve(req, res) {
      if (req.method !== 'POST') return false;
      const route = routes.get(pathOf(req));
      if (!route) return false;
      const protocol = protocolOf(req.headers['content-type'], false);
      if (!protocol) return false;
      run(req, res, route, protocol).catch((err: unknown) => {
        log.error({ err }, 'answering an HTTP call failed');
        res.destroy();
      });
      return true;
    },
  };
}
