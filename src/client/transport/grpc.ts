// The Node transport: grpc-js, CollaborativeSession as one bidirectional stream, protobuf-es
// messages on the wire (toBinary/fromBinary as grpc-js's serializers). One grpc-js client per
// target, each with its own connection (round-robin per client is real) kept alive by HTTP/2
// keepalive; a deadline on every unary call; the bearer token and any metadata on every call.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  CodeReviewService,
  ExportReviewRequestSchema,
  ExportReviewResponseSchema,
  GetFileAtRequestSchema,
  GetFileAtResponseSchema,
  GetSessionRequestSchema,
  GetSessionResponseSchema,
  ListCommentsRequestSchema,
  ListCommentsResponseSchema,
  OpenReviewRequestSchema,
  OpenReviewResponseSchema,
  SessionMessageSchema,
  type SessionMessage,
} from '../../gen/es/codereview/v1/codereview_pb.js';
import { StatusSchema } from '../../gen/es/google/rpc/status_pb.js';
import { Code, LiveReviewCallError, detailsOf } from '../core/status.js';
import type { CallOptions, JoinParams, SessionStream, Transport } from '../core/transport.js';
import { message } from '../core/wire.js';

export interface GrpcTransportOptions {
  /** host:port of one or more servers; each session stream goes to the next one (round-robin). */
  targets: string[];
  /** Default: plaintext (development). */
  credentials?: grpc.ChannelCredentials;
  /** Metadata sent with every call. */
  metadata?: () => grpc.Metadata;
  /** HTTP/2 keepalive ping interval, ms (default 30000; the server allows it). */
  keepaliveTimeMs?: number;
  /** grpc-js's own reconnect backoff of a channel, ms. The SDK owns the reconnection policy: keep
   * grpc-js's (1 s growing to 120 s by default) from stacking on top of it. */
  reconnectBackoff?: { baseDelayMs: number; maxDelayMs: number };
}

const path = (method: { name: string }) => `/${CodeReviewService.typeName}/${method.name}`;

function serializers<D extends DescMessage>(schema: D) {
  return {
    serialize: (m: MessageShape<D>): Buffer => {
      const bytes = toBinary(schema, m);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (b: Buffer): MessageShape<D> => fromBinary(schema, b),
  };
}

const session = serializers(SessionMessageSchema);

export class GrpcTransport implements Transport {
  private readonly clients = new Map<string, grpc.Client>();
  private next = 0;
  private current: string;

  constructor(private readonly options: GrpcTransportOptions) {
    if (options.targets.length === 0) throw new Error('at least one target is required');
    this.current = options.targets[0]!;
  }

  open(join: JoinParams, options: CallOptions): SessionStream {
    const target = this.options.targets[this.next++ % this.options.targets.length]!;
    this.current = target;
    const queue = new MessageQueue();
    let call: grpc.ClientDuplexStream<SessionMessage, SessionMessage> | undefined;
    let closed = false;
    const start = async () => {
      const metadata = this.metadata(await options.token());
      if (closed) return queue.end();
      if (options.signal?.aborted) return queue.end(cancelled());
      const c = this.client(target).makeBidiStreamRequest(
        path(CodeReviewService.method.collaborativeSession),
        session.serialize,
        session.deserialize,
        metadata,
      );
      call = c;
      options.signal?.addEventListener('abort', () => c.cancel(), { once: true });
      c.on('data', (m: SessionMessage) => queue.push(m));
      // grpc-js emits 'error' (a status other than OK) and 'status' before 'end'.
      c.on('error', (e: grpc.ServiceError) => queue.end(callError(e.code, e.details, e.metadata)));
      c.on('status', (s: grpc.StatusObject) =>
        queue.end(s.code === grpc.status.OK ? undefined : callError(s.code, s.details, s.metadata)),
      );
      c.write(
        message({
          sessionId: join.sessionId,
          userId: join.userId,
          payload: {
            case: 'join',
            value: {
              clientId: join.clientId,
              resumeAfterSequence:
                join.resumeAfterSequence === undefined ? undefined : BigInt(join.resumeAfterSequence),
              capabilities: join.capabilities,
              displayName: join.displayName,
            },
          },
        }),
      );
    };
    start().catch((err: unknown) => queue.end(asCallError(err)));
    return {
      messages: queue,
      send: (m) => {
        call?.write(m);
      },
      close: () => {
        closed = true;
        call?.end();
      },
    };
  }

  openReview(request: MessageShape<typeof OpenReviewRequestSchema>, options: CallOptions) {
    return this.unary(
      CodeReviewService.method.openReview,
      OpenReviewRequestSchema,
      OpenReviewResponseSchema,
      request,
      options,
    );
  }

  getSession(request: MessageShape<typeof GetSessionRequestSchema>, options: CallOptions) {
    return this.unary(
      CodeReviewService.method.getSession,
      GetSessionRequestSchema,
      GetSessionResponseSchema,
      request,
      options,
    );
  }

  listComments(request: MessageShape<typeof ListCommentsRequestSchema>, options: CallOptions) {
    return this.unary(
      CodeReviewService.method.listComments,
      ListCommentsRequestSchema,
      ListCommentsResponseSchema,
      request,
      options,
    );
  }

  getFileAt(request: MessageShape<typeof GetFileAtRequestSchema>, options: CallOptions) {
    return this.unary(
      CodeReviewService.method.getFileAt,
      GetFileAtRequestSchema,
      GetFileAtResponseSchema,
      request,
      options,
    );
  }

  exportReview(request: MessageShape<typeof ExportReviewRequestSchema>, options: CallOptions) {
    return this.unary(
      CodeReviewService.method.exportReview,
      ExportReviewRequestSchema,
      ExportReviewResponseSchema,
      request,
      options,
    );
  }

  close(): void {
    // Give a half-close a moment to reach the server before the channels go.
    const clients = [...this.clients.values()];
    this.clients.clear();
    setTimeout(() => clients.forEach((c) => c.close()), 100).unref();
  }

  private async unary<I extends DescMessage, O extends DescMessage>(
    method: { name: string },
    input: I,
    output: O,
    request: MessageShape<I>,
    options: CallOptions,
  ): Promise<MessageShape<O>> {
    const metadata = this.metadata(await options.token());
    const req = serializers(input);
    const res = serializers(output);
    return new Promise((resolve, reject) => {
      const call = this.client(this.current).makeUnaryRequest(
        path(method),
        req.serialize,
        res.deserialize,
        request,
        metadata,
        { deadline: Date.now() + (options.timeoutMs ?? 5000) },
        (err, value) => (err ? reject(callError(err.code, err.details, err.metadata)) : resolve(value!)),
      );
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  private metadata(token: string | undefined): grpc.Metadata {
    const md = this.options.metadata?.() ?? new grpc.Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
    return md;
  }

  private client(target: string): grpc.Client {
    let c = this.clients.get(target);
    if (!c) {
      const backoff = this.options.reconnectBackoff ?? { baseDelayMs: 1000, maxDelayMs: 30_000 };
      c = new grpc.Client(target, this.options.credentials ?? grpc.credentials.createInsecure(), {
        'grpc.keepalive_time_ms': this.options.keepaliveTimeMs ?? 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
        'grpc.keepalive_permit_without_calls': 1,
        // Each client instance gets its own connection, so round-robin per client is real.
        'grpc.use_local_subchannel_pool': 1,
        'grpc.initial_reconnect_backoff_ms': backoff.baseDelayMs,
        'grpc.max_reconnect_backoff_ms': backoff.maxDelayMs,
      });
      this.clients.set(target, c);
    }
    return c;
  }
}

/** A grpc-js call's status as the SDK's error, with the details of grpc-status-details-bin. */
export function callError(
  code: number,
  details: string,
  metadata: grpc.Metadata | undefined,
): LiveReviewCallError {
  const raw = metadata?.get('grpc-status-details-bin')[0];
  let d = { reason: '', retryAfterMs: 0 };
  if (raw && typeof raw !== 'string') {
    try {
      d = detailsOf(fromBinary(StatusSchema, raw));
    } catch {
      // Undecodable details: the code and message still say what happened.
    }
  }
  return new LiveReviewCallError(code, d.reason, details, d.retryAfterMs);
}

function cancelled(): LiveReviewCallError {
  return new LiveReviewCallError(Code.CANCELLED, '', 'cancelled');
}

function asCallError(err: unknown): LiveReviewCallError {
  return err instanceof LiveReviewCallError
    ? err
    : new LiveReviewCallError(Code.UNAVAILABLE, '', (err as Error).message);
}

/** The messages of one call as an async iterable: pushed as they arrive, ended once, with or
 * without an error (thrown to the reader after the messages before it). */
class MessageQueue implements AsyncIterable<SessionMessage> {
  private items: SessionMessage[] = [];
  private ended: { error?: LiveReviewCallError } | undefined;
  private wake: (() => void) | undefined;

  push(m: SessionMessage): void {
    if (this.ended) return;
    this.items.push(m);
    this.wake?.();
  }

  end(error?: LiveReviewCallError): void {
    if (this.ended) return;
    this.ended = { error };
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SessionMessage> {
    for (;;) {
      if (this.items.length > 0) {
        const batch = this.items;
        this.items = [];
        for (const m of batch) yield m;
        continue;
      }
      if (this.ended) {
        if (this.ended.error) throw this.ended.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
