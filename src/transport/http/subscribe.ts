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
// What connect-node checked is checked the same way (call-protocol.ts): the content type, the
// timeout header, the request's compression (gzip, br), the size limit, one request message; and a
// call ends as connect-node ends one — Connect's end-of-stream message or gRPC-Web's trailers, with
// the status's code, message and details.
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { fromBinary, toJsonString } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { invalidJoin, LiveReviewError } from '../../core/errors.js';
import type { Outbound } from '../../core/model.js';
import { SubscribeRequestSchema, SubscribeResponseSchema } from '../../gen/es/codereview/v1/codereview_pb.js';
import { SubscribeRequest } from '../../gen/codereview/v1/codereview.js';
import type { Logger } from '../../observability/logger.js';
import { isUndecodable, malformedRequest } from '../codec.js';
import { Connection, subscribeJoin, type ConnectionWire } from '../connection.js';
import type { TransportContext } from '../context.js';
import { framing } from '../framed-encoders.js';
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

export const SUBSCRIBE_PATH = '/codereview.v1.CodeReviewService/Subscribe';

/** A Connection's wire onto an HTTP response: frames as they are, the call's end as the protocol
 * ends one. */
class ResponseWire implements ConnectionWire {
  /** What the outbound queue writes are whole frames: those of one turn go as one write. */
  readonly joinable = true;
  private ended = false;

  constructor(
    private readonly res: EdgeResponse,
    private readonly protocol: CallProtocol,
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
    if (this.res.headersSent) return;
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
  const jsonFrames = framing((msg: Outbound) =>
    Buffer.from(
      toJsonString(SubscribeResponseSchema, fromBinary(SubscribeResponseSchema, ctx.encoders.subscribe(msg))),
    ),
  ) as (msg: Outbound) => Buffer;

  async function run(req: EdgeRequest, res: EdgeResponse, protocol: CallProtocol): Promise<void> {
    const cid = requestIdOf(req, randomUUID);
    let deadline: NodeJS.Timeout | undefined;
    const wire: ResponseWire = new ResponseWire(res, protocol, cid, () => {
      open.delete(wire);
      clearTimeout(deadline);
    });
    const connection = new Connection(ctx, wire, {
      method: 'Subscribe',
      authorization: header(req, 'authorization') ?? undefined,
      log: log.child({ cid, method: 'Subscribe' }),
      encoderFor: () => (protocol.binary ? ctx.framedEncoders.subscribe : jsonFrames),
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
    try {
      deadline = armDeadline(req, protocol, fail);
      const bytes = await requestMessage(req, protocol, maxMessageBytes, 'server_streaming');
      if (!open.has(wire)) return;
      const request = decodeRequest(protocol, bytes, SubscribeRequestSchema, SubscribeRequest);
      if (isUndecodable(request)) {
        connection.fail(malformedRequest('SubscribeRequest', request.problem));
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
      if (req.method !== 'POST' || pathOf(req) !== SUBSCRIBE_PATH) return false;
      const protocol = protocolOf(req.headers['content-type'], true);
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
