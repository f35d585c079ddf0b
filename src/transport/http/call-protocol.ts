// What the HTTP port's calls share, whatever the method: which protocol a request speaks (Connect,
// unary or streaming, binary or JSON; gRPC-Web, binary or JSON), its timeout, and its one request
// message, read within the size limit and inflated (gzip, br) within it too. connect-node did this
// for every call; it is done here because connect-node's per-call machinery was most of what a call
// cost (docs/benchmarks.md, "2026-12-06, afternoon"). connect's own functions parse the content
// types and timeouts and build the end-of-stream message and the trailers, so the wire is the same.
import { promisify } from 'node:util';
import { brotliDecompress, gunzip } from 'node:zlib';
import { fromJsonString, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  endStreamFlag,
  endStreamToJson,
  parseContentType as parseConnectContentType,
  parseTimeout,
} from '@connectrpc/connect/protocol-connect';
import { parseTimeout as parseGrpcTimeout } from '@connectrpc/connect/protocol-grpc';
import {
  parseContentType as parseGrpcWebContentType,
  setTrailerStatus,
  trailerFlag,
  trailerSerialize,
} from '@connectrpc/connect/protocol-grpc-web';
import type { Undecodable } from '../codec.js';
import { frame } from '../framed-encoders.js';
import type { EdgeRequest } from './edge-server.js';

const FLAG_COMPRESSED = 0b01;

export interface CallProtocol {
  /** Connect's unary calls send their message bare; gRPC-Web and Connect's streams in an envelope
   * (gRPC's frame). */
  kind: 'connect-unary' | 'connect-stream' | 'grpc-web';
  binary: boolean;
  /** The response's content type. */
  contentType: string;
  /** The request headers naming its compression and its timeout. */
  encodingHeader: string;
  timeoutHeader: string;
  timeout(header: string | null): { timeoutMs?: number; error?: ConnectError };
  /** An enveloped call's last frame: Connect's end-of-stream message, or gRPC-Web's trailers. */
  end(error: ConnectError | undefined): Buffer;
}

const connectTimeout = (header: string | null) => parseTimeout(header, Number.MAX_SAFE_INTEGER);
const endStream = (error: ConnectError | undefined) =>
  frame(Buffer.from(JSON.stringify(endStreamToJson(new Headers(), error, undefined))), endStreamFlag);
const trailers = (error: ConnectError | undefined) =>
  frame(trailerSerialize(setTrailerStatus(new Headers(), error)), trailerFlag);
const noEnd = (): Buffer => Buffer.alloc(0);

const connectUnary = (binary: boolean): CallProtocol => ({
  kind: 'connect-unary',
  binary,
  contentType: binary ? 'application/proto' : 'application/json',
  encodingHeader: 'content-encoding',
  timeoutHeader: 'connect-timeout-ms',
  timeout: connectTimeout,
  end: noEnd,
});

const connectStream = (binary: boolean): CallProtocol => ({
  kind: 'connect-stream',
  binary,
  contentType: binary ? 'application/connect+proto' : 'application/connect+json',
  encodingHeader: 'connect-content-encoding',
  timeoutHeader: 'connect-timeout-ms',
  timeout: connectTimeout,
  end: endStream,
});

const grpcWeb = (binary: boolean): CallProtocol => ({
  kind: 'grpc-web',
  binary,
  contentType: binary ? 'application/grpc-web+proto' : 'application/grpc-web+json',
  encodingHeader: 'grpc-encoding',
  timeoutHeader: 'grpc-timeout',
  timeout: (header) => parseGrpcTimeout(header, Number.MAX_SAFE_INTEGER),
  end: trailers,
});

const PROTOCOLS = {
  connectUnary: [connectUnary(false), connectUnary(true)],
  connectStream: [connectStream(false), connectStream(true)],
  grpcWeb: [grpcWeb(false), grpcWeb(true)],
} as const;

/** The protocol a request's content type names, for a unary or a server-streaming method;
 * undefined for what connect-node refuses too (it answers those: 415 and the like). */
export function protocolOf(contentType: string | undefined, streaming: boolean): CallProtocol | undefined {
  if (contentType === undefined) return undefined;
  const connect = parseConnectContentType(contentType);
  if (connect) {
    if (connect.stream !== streaming) return undefined;
    return (streaming ? PROTOCOLS.connectStream : PROTOCOLS.connectUnary)[connect.binary ? 1 : 0];
  }
  const web = parseGrpcWebContentType(contentType);
  if (web && !web.text) return PROTOCOLS.grpcWeb[web.binary ? 1 : 0];
  return undefined;
}

const DECOMPRESS = new Map<string, (b: Buffer, o: { maxOutputLength: number }) => Promise<Buffer>>([
  ['gzip', promisify(gunzip)],
  ['br', promisify(brotliDecompress)],
]);

export const header = (req: EdgeRequest, name: string): string | null => {
  const value = req.headers[name];
  return typeof value === 'string' ? value : null;
};

/** The path of a request, without its query. */
export const pathOf = (req: EdgeRequest): string => (req.url ?? '').split('?', 1)[0]!;

const tooLarge = (size: number, limit: number) =>
  new ConnectError(
    `message size ${size} is larger than configured readMaxBytes ${limit}`,
    Code.ResourceExhausted,
  );

/** The request body, whole: at most `maxMessageBytes` (and an envelope's five bytes). Refused
 * without reading on once it is larger, or once its content-length or its envelope says it will be
 * (a client announcing a gigabyte is answered at once). */
function readBody(req: EdgeRequest, maxMessageBytes: number, enveloped: boolean): Promise<Buffer> {
  const limit = maxMessageBytes + (enveloped ? 5 : 0);
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
        enveloped && size < 5 && size + chunk.length >= 5
          ? Buffer.concat([...chunks, chunk]).readUInt32BE(1)
          : 0;
      size += chunk.length;
      if (announced > maxMessageBytes) refuse(tooLarge(announced, maxMessageBytes));
      else if (size > limit) refuse(tooLarge(size - (limit - maxMessageBytes), maxMessageBytes));
      else chunks.push(chunk);
    };
    // A body its length says is too large is refused before any of it is read, with that length
    // (as connect-node did).
    const declared = Number(header(req, 'content-length') ?? 0);
    if (declared > limit) {
      refuse(tooLarge(declared - (limit - maxMessageBytes), maxMessageBytes));
      return;
    }
    req.on('data', onData);
    req.once('end', () => {
      if (complete) return;
      complete = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!complete) reject(new ConnectError('the client went away', Code.Canceled));
    });
  });
}

async function inflate(message: Buffer, encoding: string | null, limit: number): Promise<Buffer> {
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

/** The call's one request message: read, taken out of its envelope and inflated, within
 * `maxMessageBytes` all along. Throws the ConnectError to answer with. */
export async function requestMessage(
  req: EdgeRequest,
  protocol: CallProtocol,
  maxMessageBytes: number,
  methodKind: 'unary' | 'server_streaming',
): Promise<Buffer> {
  const encoding = header(req, protocol.encodingHeader);
  const compressed = encoding !== null && encoding !== 'identity';
  if (compressed && !DECOMPRESS.has(encoding)) {
    throw new ConnectError(
      `unknown compression "${encoding}": supported encodings are gzip, br`,
      Code.Unimplemented,
    );
  }
  const enveloped = protocol.kind !== 'connect-unary';
  const body = await readBody(req, maxMessageBytes, enveloped);
  if (!enveloped) return compressed ? inflate(body, encoding, maxMessageBytes) : body;
  if (body.length === 0) {
    throw new ConnectError(
      `protocol error: missing input message for ${methodKind} method`,
      Code.Unimplemented,
    );
  }
  if (body.length < 5) throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  const flags = body[0]!;
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length)
    throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  if (body.length > 5 + length) {
    throw new ConnectError(
      `protocol error: received extra input message for ${methodKind} method`,
      Code.Unimplemented,
    );
  }
  if ((flags & ~FLAG_COMPRESSED) !== 0)
    throw new ConnectError('protocol error: unexpected envelope flags', Code.InvalidArgument);
  const message = body.subarray(5);
  return (flags & FLAG_COMPRESSED) === 0 ? message : inflate(message, encoding, maxMessageBytes);
}

/** The request as the server's own codec decodes it, from the bytes received (JSON through
 * protobuf-es to the same bytes first, so a value that does not fit, such as an int64 beyond 2^53,
 * is refused as on the gRPC port); Undecodable when either step fails. */
export function decodeRequest<T>(
  protocol: CallProtocol,
  bytes: Buffer,
  schema: DescMessage,
  codec: { decode(input: Uint8Array): T },
): T | Undecodable {
  try {
    return codec.decode(
      protocol.binary ? bytes : toBinary(schema, fromJsonString(schema, bytes.toString('utf8'))),
    );
  } catch (err) {
    return { undecodable: true, problem: (err as Error).message };
  }
}

/** Starts the call's deadline from its timeout header: `expire` is called with the status when it
 * passes. Throws the status for a header that is not a timeout. */
export function armDeadline(
  req: EdgeRequest,
  protocol: CallProtocol,
  expire: (status: ConnectError) => void,
): NodeJS.Timeout | undefined {
  const timeout = protocol.timeout(header(req, protocol.timeoutHeader));
  if (timeout.error) throw timeout.error;
  if (timeout.timeoutMs === undefined) return undefined;
  const deadline = setTimeout(
    () => expire(new ConnectError('the operation timed out', Code.DeadlineExceeded)),
    timeout.timeoutMs,
  );
  deadline.unref();
  return deadline;
}

/** The call's correlation id: the client's x-request-id, or a new one; echoed in the response. */
export function requestIdOf(req: EdgeRequest, fresh: () => string): string {
  const given = header(req, 'x-request-id');
  return given && given.length <= 128 ? given : fresh();
}

/** A write racing the call's end (the client reset it a moment ago) is reported as an 'error' on
 * the response; the 'close' that follows ends the call. */
export const ignoreLateWriteError = (): void => undefined;
