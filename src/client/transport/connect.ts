// The browser transport: the Connect protocol (binary or JSON) or gRPC-Web over fetch
// (@connectrpc/connect-web), in the half-duplex shape of the core's Transport: `open` calls
// Subscribe from the resume position, `send` calls Submit with the session, user and client ids of
// the join and returns its ack. No Node API: it runs wherever fetch and streams do.
import { createRegistry } from '@bufbuild/protobuf';
import { Code as ConnectCode, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import {
  CodeReviewService,
  file_codereview_v1_codereview,
  type Ack,
  type SessionMessage,
} from '../../gen/es/codereview/v1/codereview_pb.js';
import {
  ErrorInfoSchema,
  RetryInfoSchema,
  file_google_rpc_error_details,
} from '../../gen/es/google/rpc/error_details_pb.js';
import { Code, LiveReviewCallError } from '../core/status.js';
import type { CallOptions, JoinParams, SessionStream, Transport } from '../core/transport.js';

export interface ConnectTransportOptions {
  /** Where the service is served, e.g. `https://review.example.com` or `/` for the page's origin
   * (methods are at `<baseUrl>/codereview.v1.CodeReviewService/<Method>`). */
  baseUrl: string;
  /** 'connect' (binary Connect, the default), 'connect-json' (Connect with JSON bodies, readable
   * in the browser's network panel) or 'grpc-web'. */
  protocol?: 'connect' | 'connect-json' | 'grpc-web';
  /** Headers sent with every call (besides the bearer token). */
  headers?: () => Record<string, string>;
  /** A fetch to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
}

type ServiceClient = Client<typeof CodeReviewService>;

/** The messages whose JSON form needs their type (google.protobuf.Any in statuses). */
const registry = createRegistry(file_codereview_v1_codereview, file_google_rpc_error_details);

export class ConnectTransport implements Transport {
  private readonly client: ServiceClient;

  constructor(private readonly options: ConnectTransportOptions) {
    const protocol = options.protocol ?? 'connect';
    const common = {
      baseUrl: options.baseUrl,
      jsonOptions: { registry },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    };
    const transport =
      protocol === 'grpc-web'
        ? createGrpcWebTransport({ ...common, useBinaryFormat: true })
        : createConnectTransport({ ...common, useBinaryFormat: protocol === 'connect' });
    this.client = createClient(CodeReviewService, transport);
  }

  open(join: JoinParams, options: CallOptions): SessionStream {
    // Aborted by close() (a clean end) or by the core's signal (cut: ends CANCELLED).
    const closing = new AbortController();
    let closedHere = false;
    const lost = new AbortController();
    let lostError: LiveReviewCallError | undefined;
    options.signal?.addEventListener('abort', () => closing.abort(), { once: true });
    lost.signal.addEventListener('abort', () => closing.abort(), { once: true });
    const signal = closing.signal;
    const client = this.client;
    const headers = (token: string | undefined) => this.headers(token);

    async function* messages(): AsyncGenerator<SessionMessage> {
      try {
        const token = await options.token();
        if (signal.aborted) throw new ConnectError('cancelled', ConnectCode.Canceled);
        const stream = client.subscribe(
          {
            sessionId: join.sessionId,
            userId: join.userId,
            clientId: join.clientId,
            ...(join.resumeAfterSequence === undefined
              ? {}
              : { resumeAfterSequence: BigInt(join.resumeAfterSequence) }),
          },
          { signal, headers: headers(token) },
        );
        for await (const r of stream) if (r.message) yield r.message;
      } catch (err) {
        if (closedHere) return;
        if (lostError) throw lostError;
        throw callErrorOf(err);
      }
    }

    const submit = async (m: SessionMessage): Promise<Ack> => {
      const token = await options.token();
      try {
        const r = await client.submit(
          { message: { ...m, sessionId: join.sessionId, userId: join.userId, clientId: join.clientId } },
          { headers: headers(token), timeoutMs: 15_000 },
        );
        if (!r.ack) throw new LiveReviewCallError(Code.INTERNAL, '', 'Submit answered without an ack');
        return r.ack;
      } catch (err) {
        const e = callErrorOf(err);
        if (!lostInTransit(err)) throw e;
        // The request did not reach the server, or its answer did not come back: as on a broken
        // bidirectional stream, the message is lost with the connection. End the stream, so the
        // core reconnects and resends everything unacknowledged (same ids: applied at most once),
        // and leave this answer unsettled rather than report a refusal the server never made.
        lostError ??= new LiveReviewCallError(Code.UNAVAILABLE, e.reason, e.message);
        lost.abort();
        return new Promise<Ack>(() => undefined);
      }
    };

    return {
      messages: messages(),
      send: (m) => {
        // A Subscribe call cannot take a fresh token: the token is asked for at every Submit and
        // every new Subscribe instead.
        if (m.payload.case === 'tokenRefresh') return;
        return submit(m);
      },
      close: () => {
        closedHere = true;
        closing.abort();
      },
    };
  }

  openReview: Transport['openReview'] = (request, options) =>
    this.unary(options, (o) => this.client.openReview(request, o));

  getSession: Transport['getSession'] = (request, options) =>
    this.unary(options, (o) => this.client.getSession(request, o));

  listComments: Transport['listComments'] = (request, options) =>
    this.unary(options, (o) => this.client.listComments(request, o));

  getFileAt: Transport['getFileAt'] = (request, options) =>
    this.unary(options, (o) => this.client.getFileAt(request, o));

  exportReview: Transport['exportReview'] = (request, options) =>
    this.unary(options, (o) => this.client.exportReview(request, o));

  close(): void {
    // fetch holds no connection of its own to release.
  }

  private async unary<T>(
    options: CallOptions,
    call: (o: { headers: Record<string, string>; signal?: AbortSignal; timeoutMs: number }) => Promise<T>,
  ): Promise<T> {
    const token = await options.token();
    try {
      return await call({
        headers: this.headers(token),
        ...(options.signal ? { signal: options.signal } : {}),
        timeoutMs: options.timeoutMs ?? 5000,
      });
    } catch (err) {
      throw callErrorOf(err);
    }
  }

  private headers(token: string | undefined): Record<string, string> {
    const h = { ...this.options.headers?.() };
    if (token !== undefined) h.authorization = `Bearer ${token}`;
    return h;
  }
}

/** A Connect or gRPC-Web failure as the SDK's error: the status code (Connect numbers its codes as
 * gRPC does), the ErrorInfo reason and the RetryInfo delay from the details. */
export function callErrorOf(err: unknown): LiveReviewCallError {
  if (err instanceof LiveReviewCallError) return err;
  const e = ConnectError.from(err);
  let reason = '';
  let retryAfterMs = 0;
  try {
    reason = e.findDetails(ErrorInfoSchema)[0]?.reason ?? '';
    const delay = e.findDetails(RetryInfoSchema)[0]?.retryDelay;
    if (delay) retryAfterMs = Number(delay.seconds) * 1000 + Math.floor(delay.nanos / 1e6);
  } catch {
    // Details that do not decode tell us nothing; the code and message still do.
  }
  return new LiveReviewCallError(e.code, reason, e.rawMessage, retryAfterMs);
}

/** Whether a failed call never got the server's answer: fetch itself failed (the server is down,
 * the network is gone) or something between us answered "unavailable" without the server's
 * reason. A refusal by the server always names its reason (ErrorInfo). */
function lostInTransit(err: unknown): boolean {
  if (!(err instanceof ConnectError)) return err instanceof TypeError;
  if (err.findDetails(ErrorInfoSchema).length > 0) return false;
  if (err.code === ConnectCode.Unavailable) return true;
  return err.code === ConnectCode.Unknown && err.cause instanceof TypeError;
}
