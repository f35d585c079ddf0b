// Subscribe on the HTTP port, served here rather than by connect-node: the call a browser holds
// for as long as its review is open. Connect (binary and JSON) and gRPC-Web (binary and JSON).
//
// Through connect-node each open Subscribe kept its server-streaming pipeline — about 45 KB of
// JavaScript per call (a heap snapshot: ~98 closures, 14 generators, 21 promises) — and each
// message a browser received was decoded from the broadcast's bytes once and encoded again for
// every recipient. Here a call is its Connection and a small wire, and a binary recipient is
// written the broadcast's frame as it is built once for every gRPC stream too (gRPC's frame is
// Connect's and gRPC-Web's envelope): docs/benchmarks.md, "2026-12-06, afternoon".
//
// What connect-node checked is checked here the same way, with its own helpers where it has them:
// the content type, the timeout header, the request's compression (gzip, br), the size limit, one
// request message; and a call ends as connect-node ends one — Connect's end-of-stream message or
// gRPC-Web's trailers, with the status's code, message and details.
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip } from 'node:zlib';
import { fromBinary, fromJsonString, toBinary, toJsonString } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  endStreamFlag,
  endStreamToJson,
  parseContentType as parseConnectContentType,
  parseTimeout,
} from '@connectrpc/connect/protocol-connect';
import {
  parseContentType as parseGrpcWebContentType,
  setTrailerStatus,
  trailerFlag,
  trailerSerialize,
} from '@connectrpc/connect/protocol-grpc-web';
import { parseTimeout as parseGrpcTimeout } from '@connectrpc/connect/protocol-grpc';
import { invalidJoin, LiveReviewError } from '../../core/errors.js';
import type { Outbound } from '../../core/model.js';
import { SubscribeRequestSchema, SubscribeResponseSchema } from '../../gen/es/codereview/v1/codereview_pb.js';
import { SubscribeRequest } from '../../gen/codereview/v1/codereview.js';
import type { Logger } from '../../observability/logger.js';
import { malformedRequest } from '../codec.js';
import { Connection, subscribeJoin, type ConnectionWire } from '../connection.js';
import type { TransportContext } from '../context.js';
import { frame, framing } from '../framed-encoders.js';
import { toConnectError } from './connect-status.js';
import type { EdgeRequest, EdgeResponse } from './edge-server.js';

export const SUBSCRIBE_PATH = '/codereview.v1.CodeReviewService/Subscribe';

const FLAG_COMPRESSED = 0b01;

/** What differs between Connect and gRPC-Web for a server-streaming call. */
interface Protocol {
  /** The response's content type. */
  contentType: string;
  binary: boolean;
  /** The request headers naming its compression and its timeout. */
  encodingHeader: string;
  timeoutHeader: string;
  timeout(header: string | null): { timeoutMs?: number; error?: ConnectError };
  /** The call's last frame: Connect's end-of-stream message, or gRPC-Web's trailers. */
  end(error: ConnectError | undefined): Buffer;
}

const connectProtocol = (binary: boolean): Protocol => ({
  contentType: binary ? 'application/connect+proto' : 'application/connect+json',
  binary,
  encodingHeader: 'connect-content-encoding',
  timeoutHeader: 'connect-timeout-ms',
  timeout: (header) => parseTimeout(header, Number.MAX_SAFE_INTEGER),
  end: (error) =>
    frame(Buffer.from(JSON.stringify(endStreamToJson(new Headers(), error, undefined))), endStreamFlag),
});

const grpcWebProtocol = (binary: boolean): Protocol => ({
  contentType: binary ? 'application/grpc-web+proto' : 'application/grpc-web+json',
  binary,
  encodingHeader: 'grpc-encoding',
  timeoutHeader: 'grpc-timeout',
  timeout: (header) => parseGrpcTimeout(header, Number.MAX_SAFE_INTEGER),
  end: (error) => frame(trailerSerialize(setTrailerStatus(new Headers(), error)), trailerFlag),
});

const PROTOCOLS = {
  connectBinary: connectProtocol(true),
  connectJson: connectProtocol(false),
  grpcWebBinary: grpcWebProtocol(true),
  grpcWebJson: grpcWebProtocol(false),
};

/** The protocol a request's content type names; undefined for what connect-node would refuse too
 * (it answers those: 415 and the like). */
function protocolOf(contentType: string | undefined): Protocol | undefined {
  if (contentType === undefined) return undefined;
  const connect = parseConnectContentType(contentType);
  if (connect)
    return connect.stream ? (connect.binary ? PROTOCOLS.connectBinary : PROTOCOLS.connectJson) : undefined;
  const grpcWeb = parseGrpcWebContentType(contentType);
  if (grpcWeb && !grpcWeb.text) return grpcWeb.binary ? PROTOCOLS.grpcWebBinary : PROTOCOLS.grpcWebJson;
  return undefined;
}

const DECOMPRESS = new Map<string, (b: Buffer, o: { maxOutputLength: number }) => Promise<Buffer>>([
  ['gzip', promisify(gunzip)],
  ['br', promisify(brotliDecompress)],
]);

/** A write racing the stream's end (the client reset it a moment ago) is reported as an 'error'
 * on the response; the 'close' that follows ends the call. */
const ignoreLateWriteError = (): void => undefined;

const header = (req: EdgeRequest, name: string): string | null => {
  const value = req.headers[name];
  return typeof value === 'string' ? value : null;
};

/** The request body, whole: one envelope of at most `maxMessageBytes`. Refused without reading on
 * once it is larger, or once its envelope says it will be (a client announcing a gigabyte is
 * answered at once). */
function readBody(req: EdgeRequest, maxMessageBytes: number): Promise<Buffer> {
  const limit = maxMessageBytes + 5;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let complete = false;
    const refuse = (err: ConnectError) => {
      complete = true;
      req.off('data', onData);
      // Read and drop the rest: the answer is decided.
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      const announced =
        size < 5 && size + chunk.length >= 5 ? Buffer.concat([...chunks, chunk]).readUInt32BE(1) : 0;
      size += chunk.length;
      if (announced > maxMessageBytes) refuse(tooLarge(announced, maxMessageBytes));
      else if (size > limit) refuse(tooLarge(size - 5, maxMessageBytes));
      else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (complete) return;
      complete = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!complete) reject(new ConnectError('the client went away', Code.Canceled));
    });
  });
}

const tooLarge = (size: number, limit: number) =>
  new ConnectError(
    `message size ${size} is larger than configured readMaxBytes ${limit}`,
    Code.ResourceExhausted,
  );

/** The one request message of a server-streaming call, from its envelope. */
async function requestMessage(body: Buffer, encoding: string | null, limit: number): Promise<Buffer> {
  if (body.length === 0) {
    throw new ConnectError(
      'protocol error: missing input message for server_streaming method',
      Code.Unimplemented,
    );
  }
  if (body.length < 5) throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  const flags = body[0]!;
  const length = body.readUInt32BE(1);
  if (length > limit) throw tooLarge(length, limit);
  if (body.length < 5 + length)
    throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  if (body.length > 5 + length) {
    throw new ConnectError(
      'protocol error: received extra input message for server_streaming method',
      Code.Unimplemented,
    );
  }
  if ((flags & ~FLAG_COMPRESSED) !== 0)
    throw new ConnectError('protocol error: unexpected envelope flags', Code.InvalidArgument);
  const message = body.subarray(5);
  if ((flags & FLAG_COMPRESSED) === 0) return message;
  const decompress = encoding ? DECOMPRESS.get(encoding) : undefined;
  if (!decompress) {
    throw new ConnectError(
      'protocol error: received compressed message without a known encoding',
      Code.InvalidArgument,
    );
  }
  try {
    return await decompress(message, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit + 1, limit);
    throw new ConnectError(
      `failed to decompress the request: ${(err as Error).message}`,
      Code.InvalidArgument,
    );
  }
}

/** A Connection's wire onto an HTTP response: frames as they are, the call's end as the protocol
 * ends one. */
class ResponseWire implements ConnectionWire {
  /** What the outbound queue writes are whole frames: those of one turn go as one write. */
  readonly joinable = true;
  private headersSent = false;
  private ended = false;

  constructor(
    private readonly res: EdgeResponse,
    private readonly protocol: Protocol,
    private readonly requestId: string,
    private readonly onEnd: () => void,
  ) {}

  write(bytes: Buffer): boolean {
    if (this.ended) return false;
    this.sendHeaders();
    return (this.res as Writable).write(bytes);
  }

  onceDrain(fn: () => void): void {
    this.res.once('drain', fn);
  }

  end(error?: LiveReviewError): void {
    this.finish(error && toConnectError(error));
  }

  /** The call's last frame, then the end of the response. */
  finish(error: ConnectError | undefined): void {
    if (!this.abandon()) return;
    this.sendHeaders();
    this.res.end(this.protocol.end(error));
  }

  /** Ended without a word (the client went away); false if it had ended already. */
  abandon(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.onEnd();
    return true;
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.res.writeHead(200, { 'content-type': this.protocol.contentType, 'x-request-id': this.requestId });
  }
}

export interface HttpSubscribe {
  /** Serves the request if it is a Subscribe this handles (false: hand it to connect-node). */
  serve(req: EdgeRequest, res: EdgeResponse): boolean;
  /** Ends the calls still open (the server is stopping). */
  closeAll(error: LiveReviewError): void;
}

export function createHttpSubscribe(
  ctx: TransportContext,
  log: Logger,
  maxMessageBytes: number,
): HttpSubscribe {
  const open = new Map<ResponseWire, Connection>();
  // Binary recipients get the frames gRPC streams get; JSON ones a JSON frame per broadcast.
  const binaryFrames = () => ctx.framedEncoders.subscribe;
  const jsonFrames = framing((msg: Outbound) =>
    Buffer.from(
      toJsonString(SubscribeResponseSchema, fromBinary(SubscribeResponseSchema, ctx.encoders.subscribe(msg))),
    ),
  ) as (msg: Outbound) => Buffer;

  async function run(req: EdgeRequest, res: EdgeResponse, protocol: Protocol): Promise<void> {
    const given = header(req, 'x-request-id');
    const cid = given && given.length <= 128 ? given : randomUUID();
    let deadline: NodeJS.Timeout | undefined;
    const wire: ResponseWire = new ResponseWire(res, protocol, cid, () => {
      open.delete(wire);
      clearTimeout(deadline);
    });
    const connection = new Connection(ctx, wire, {
      method: 'Subscribe',
      authorization: header(req, 'authorization') ?? undefined,
      log: log.child({ cid, method: 'Subscribe' }),
      encoderFor: () => (protocol.binary ? binaryFrames() : jsonFrames),
    });
    open.set(wire, connection);
    res.on('error', ignoreLateWriteError);
    // The client went away before the call ended: release the participant now.
    res.once('close', () => {
      if (wire.abandon()) connection.gone('cancelled');
    });
    const fail = (err: ConnectError) => {
      wire.finish(err);
      connection.gone(err.code === Code.DeadlineExceeded ? 'deadline' : 'refused');
    };
    const timeout = protocol.timeout(header(req, protocol.timeoutHeader));
    try {
      if (timeout.error) throw timeout.error;
      if (timeout.timeoutMs !== undefined) {
        deadline = setTimeout(
          () => fail(new ConnectError('the operation timed out', Code.DeadlineExceeded)),
          timeout.timeoutMs,
        );
        deadline.unref();
      }
      const encoding = header(req, protocol.encodingHeader);
      if (encoding !== null && encoding !== 'identity' && !DECOMPRESS.has(encoding)) {
        throw new ConnectError(
          `unknown compression "${encoding}": supported encodings are gzip, br`,
          Code.Unimplemented,
        );
      }
      const bytes = await requestMessage(await readBody(req, maxMessageBytes), encoding, maxMessageBytes);
      if (!open.has(wire)) return;
      let request: SubscribeRequest;
      try {
        request = protocol.binary
          ? SubscribeRequest.decode(bytes)
          : SubscribeRequest.decode(
              toBinary(
                SubscribeRequestSchema,
                fromJsonString(SubscribeRequestSchema, bytes.toString('utf8')),
              ),
            );
      } catch (err) {
        connection.fail(malformedRequest('SubscribeRequest', (err as Error).message));
        return;
      }
      if (!request.sessionId) connection.fail(invalidJoin('session_id', 'is required'));
      else void connection.join(subscribeJoin(request));
    } catch (err) {
      fail(err instanceof ConnectError ? err : ConnectError.from(err, Code.Internal));
    }
  }

  return {
    serve(req, res) {
      if (req.method !== 'POST' || (req.url ?? '').split('?', 1)[0] !== SUBSCRIBE_PATH) return false;
      const protocol = protocolOf(req.headers['content-type']);
      if (!protocol) return false;
      void run(req, res, protocol);
      return true;
    },
    closeAll(error) {
      for (const [wire, connection] of [...open]) {
        wire.end(error);
        connection.gone('shutdown');
      }
    },
  };
}
