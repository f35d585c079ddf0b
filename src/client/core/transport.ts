// What the SDK core needs from a network: one session stream at a time and a few unary calls. Two
// shapes of transport fit it:
// - bidirectional (grpc-js, CollaborativeSession): `open` writes the join as the first message;
//   `send` writes a message and returns nothing; acks and refusals arrive on `messages`;
// - half-duplex (Connect / gRPC-Web in a browser): `open` calls Subscribe from the resume position;
//   `send` calls Submit (session_id, user_id and client_id filled from the join) and returns its
//   ack, or rejects with the refusal as a LiveReviewCallError.
// The core treats both the same: acks are applied in sequence order whichever way they come, and
// an echo of its own event on `messages` counts as its ack.
//
// Every failure is a LiveReviewCallError (status code, ErrorInfo reason, RetryInfo delay).
import type {
  Ack,
  ExportReviewRequest,
  ExportReviewResponse,
  GetFileAtRequest,
  GetFileAtResponse,
  GetSessionRequest,
  GetSessionResponse,
  ListCommentsRequest,
  ListCommentsResponse,
  OpenReviewRequest,
  OpenReviewResponse,
  SessionMessage,
} from '../../gen/es/codereview/v1/codereview_pb.js';

export interface JoinParams {
  sessionId: string;
  userId: string;
  clientId: string;
  displayName: string;
  /** Resume after this sequence number; undefined: a fresh snapshot. */
  resumeAfterSequence: number | undefined;
  capabilities: string[];
}

export interface CallOptions {
  /** The bearer token for this call ("authorization: Bearer …"); called when the call starts (a
   * half-duplex stream calls it for every Submit). Resolves to undefined when there is none. */
  token: () => Promise<string | undefined>;
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline of a unary call, ms from now. */
  timeoutMs?: number;
}

export interface SessionStream {
  /** The server's messages, in order. Iteration ends when the stream ends cleanly and throws a
   * LiveReviewCallError when it ends with a status. */
  readonly messages: AsyncIterable<SessionMessage>;
  /** Sends one message (see above: void on a bidirectional stream, the Submit ack on a
   * half-duplex one). Messages sent before the server answered the join may be dropped: the core
   * only sends after the welcome. */
  send(message: SessionMessage): void | Promise<Ack>;
  /** Ends the stream from this side; `messages` then ends. */
  close(): void;
}

export interface Transport {
  /** Opens a session stream and joins with `join`. */
  open(join: JoinParams, options: CallOptions): SessionStream;
  openReview(request: OpenReviewRequest, options: CallOptions): Promise<OpenReviewResponse>;
  getSession(request: GetSessionRequest, options: CallOptions): Promise<GetSessionResponse>;
  listComments(request: ListCommentsRequest, options: CallOptions): Promise<ListCommentsResponse>;
  getFileAt(request: GetFileAtRequest, options: CallOptions): Promise<GetFileAtResponse>;
  exportReview(request: ExportReviewRequest, options: CallOptions): Promise<ExportReviewResponse>;
  /** Releases connections. */
  close(): void;
}
