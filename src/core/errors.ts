// The one list of LiveReview error reasons. Each reason has one canonical status code; transports
// map the code to gRPC (src/transport/grpc/status.ts) and HTTP (httpStatusOf below) and attach the
// reason as google.rpc.ErrorInfo. docs/errors.md documents every reason (a test checks it).

/** gRPC canonical status codes (google.rpc.Code). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

export const ERROR_DOMAIN = 'livereview.dev';

interface ReasonSpec {
  code: Code;
  /** What the client should do; shown in docs/errors.md. */
  advice: string;
}

export const REASONS = {
  INVALID_JOIN: {
    code: Code.INVALID_ARGUMENT,
    advice: 'The first message must carry session_id and user_id. Fix the client; do not retry.',
  },
  INVALID_MESSAGE: {
    code: Code.INVALID_ARGUMENT,
    advice: 'A field of the message is invalid (BadRequest names it). Fix the message; do not retry it.',
  },
  MALFORMED_MESSAGE: {
    code: Code.INVALID_ARGUMENT,
    advice: 'The bytes are not a SessionMessage. The stream goes on; fix the client.',
  },
  MALFORMED_REQUEST: {
    code: Code.INVALID_ARGUMENT,
    advice:
      "The request bytes are not the method's request message (BadRequest says why). Fix the client; do not retry.",
  },
  SESSION_MISMATCH: {
    code: Code.INVALID_ARGUMENT,
    advice: 'A message named another session than the one this stream joined. Use one stream per session.',
  },
  ALREADY_JOINED: {
    code: Code.FAILED_PRECONDITION,
    advice: 'A second join on a stream that has joined. Open a new stream to join another session.',
  },
  INVALID_OPERATION: {
    code: Code.INVALID_ARGUMENT,
    advice: 'The edit operations do not fit the file at their base version. Resync from a snapshot.',
  },
  LINE_OUT_OF_RANGE: {
    code: Code.OUT_OF_RANGE,
    advice: 'The line does not exist at the given version. Re-read the file and retry with a valid line.',
  },
  VERSION_AHEAD: {
    code: Code.FAILED_PRECONDITION,
    advice: 'The base version is newer than the file. Take a fresh snapshot (rejoin without resume).',
  },
  VERSION_TOO_OLD: {
    code: Code.FAILED_PRECONDITION,
    advice:
      'The base version is older than the retained history. Take a fresh snapshot, rebase, and resubmit.',
  },
  FILE_NOT_FOUND: {
    code: Code.NOT_FOUND,
    advice: 'No such file in the session. Open it first (OpenReview) or edit from version 0 to create it.',
  },
  FILE_TOO_LARGE: {
    code: Code.FAILED_PRECONDITION,
    advice:
      'The edit or the opened file would make the file larger than the server allows (QuotaFailure says how large). Do not retry it as is.',
  },
  SESSION_TOO_LARGE: {
    code: Code.FAILED_PRECONDITION,
    advice:
      "The session's files together would exceed what the server allows (QuotaFailure). Remove text or start another session.",
  },
  TOO_MANY_FILES: {
    code: Code.FAILED_PRECONDITION,
    advice: 'The session has its maximum number of files (QuotaFailure). Start another session.',
  },
  TOO_MANY_COMMENTS: {
    code: Code.FAILED_PRECONDITION,
    advice:
      'The session has its maximum number of comments, or of comment text (QuotaFailure). Resolve and export, then start another session.',
  },
  LINE_TOO_LONG: {
    code: Code.INVALID_ARGUMENT,
    advice:
      'The edit or the opened file would make a line longer than the server allows (BadRequest names the field). Break the line; do not retry as is.',
  },
  FILE_EXISTS: {
    code: Code.ALREADY_EXISTS,
    advice: 'The file is already open in the session with other content. Edit it instead.',
  },
  COMMENT_NOT_FOUND: {
    code: Code.NOT_FOUND,
    advice: 'No such comment (or thread) in the session. Do not retry.',
  },
  COMMENT_EXISTS: {
    code: Code.ALREADY_EXISTS,
    advice: 'A comment with this id exists. Choose another id, or use COMMENT_ACTION_EDIT.',
  },
  SESSION_NOT_FOUND: {
    code: Code.NOT_FOUND,
    advice: 'No such session. Open a review or join it first.',
  },
  SESSION_FULL: {
    code: Code.RESOURCE_EXHAUSTED,
    advice: 'The session has its maximum number of participants (QuotaFailure). Retry later.',
  },
  SLOW_CONSUMER: {
    code: Code.UNAVAILABLE,
    advice:
      'This stream fell too far behind and was cut off. Reconnect and resume from your last sequence number.',
  },
  SERVER_SHUTTING_DOWN: {
    code: Code.UNAVAILABLE,
    advice:
      'The server is draining. Reconnect (to another instance) and resume from your last sequence number.',
  },
  STORE_UNAVAILABLE: {
    code: Code.UNAVAILABLE,
    advice:
      'The event could not be made durable; nothing was applied. Retry with the same client_message_id.',
  },
  SESSION_CHANGED: {
    code: Code.ABORTED,
    advice:
      'The session changed while a file was read across pages. Read it again from the first page (or join and take a snapshot).',
  },
  SUPERSEDED: {
    code: Code.ABORTED,
    advice: 'The same client id joined again on another stream; this older stream was closed.',
  },
  TOKEN_MISSING: {
    code: Code.UNAUTHENTICATED,
    advice: 'Send `authorization: Bearer <JWT>` metadata on every call. Do not retry without a token.',
  },
  TOKEN_INVALID: {
    code: Code.UNAUTHENTICATED,
    advice: 'The token is malformed, badly signed, or for another issuer or audience. Get a valid token.',
  },
  TOKEN_EXPIRED: {
    code: Code.UNAUTHENTICATED,
    advice: 'The token expired (on a stream: it was not refreshed in time). Get a fresh token and reconnect.',
  },
  TOKEN_NOT_YET_VALID: {
    code: Code.UNAUTHENTICATED,
    advice: 'The token is not valid yet (nbf). Check clocks; do not retry before it is valid.',
  },
  TOKEN_REVOKED: {
    code: Code.UNAUTHENTICATED,
    advice: 'The token (or its user) was revoked. Do not retry with it.',
  },
  USER_MISMATCH: {
    code: Code.PERMISSION_DENIED,
    advice:
      "A message's user_id is not the token's user. Leave user_id empty or set it to the token's subject.",
  },
  SESSION_FORBIDDEN: {
    code: Code.PERMISSION_DENIED,
    advice: 'The token grants no role in this session. Get a token for it; do not retry.',
  },
  ROLE_FORBIDS: {
    code: Code.PERMISSION_DENIED,
    advice:
      'Your role in this session does not allow this message kind (viewers watch, reviewers comment, authors edit).',
  },
  RATE_LIMITED: {
    code: Code.RESOURCE_EXHAUSTED,
    advice:
      'Too many messages (QuotaFailure names the user or session bucket). Slow down; retry after RetryInfo.',
  },
  TOO_MANY_SESSIONS: {
    code: Code.RESOURCE_EXHAUSTED,
    advice:
      'The server holds its maximum number of sessions in memory. Retry after RetryInfo, or on another instance.',
  },
  STREAM_DURATION_EXCEEDED: {
    code: Code.RESOURCE_EXHAUSTED,
    advice: 'The stream reached its maximum duration. Reconnect and resume from your last sequence number.',
  },
  SUGGESTION_CONFLICT: {
    code: Code.FAILED_PRECONDITION,
    advice:
      "The suggestion's lines no longer hold the text it was made for (ErrorInfo metadata `conflict`: lines_edited, lines_partly_deleted, lines_deleted, lines_joined). Nothing was applied; look at the file again and suggest anew.",
  },
  SUGGESTION_APPLIED: {
    code: Code.FAILED_PRECONDITION,
    advice: 'The suggestion was applied already (metadata `applied_by`, `applied_sequence`). Do not retry.',
  },
  NOT_A_SUGGESTION: {
    code: Code.FAILED_PRECONDITION,
    advice: 'The thread has no suggestion to apply. Do not retry.',
  },
  TOO_MANY_VERDICTS: {
    code: Code.RESOURCE_EXHAUSTED,
    advice: 'The session holds its maximum number of verdicts (QuotaFailure). No more can be given in it.',
  },
  SEQUENCE_AHEAD: {
    code: Code.OUT_OF_RANGE,
    advice: "The sequence number is after the session's last event (metadata `head`). Ask for one up to it.",
  },
  HISTORY_UNAVAILABLE: {
    code: Code.FAILED_PRECONDITION,
    advice:
      'The file cannot be rebuilt at that sequence: the log before it was pruned, or rebuilding would replay more than the limit (metadata `why`, `oldest`). Ask for a later sequence.',
  },
  RESPONSE_TOO_LARGE: {
    code: Code.FAILED_PRECONDITION,
    advice:
      'The answer would be larger than the largest response (metadata `bytes`, `limit`). Export as Markdown (it leaves long diffs out), or read files one at a time.',
  },
  CANCELLED: {
    code: Code.CANCELLED,
    advice: 'The call was cancelled or its deadline passed before the work started; nothing was applied.',
  },
  INTERNAL: {
    code: Code.INTERNAL,
    advice: 'A server bug. Report it with the correlation id (x-request-id); do not retry blindly.',
  },
} as const satisfies Record<string, ReasonSpec>;

export type Reason = keyof typeof REASONS;

export interface FieldViolation {
  field: string;
  description: string;
}

export interface QuotaViolation {
  subject: string;
  description: string;
}

export interface ErrorDetails {
  fieldViolations?: FieldViolation[];
  quotaViolations?: QuotaViolation[];
  /** Suggested wait before retrying (RetryInfo). */
  retryAfterMs?: number;
  /** Extra ErrorInfo metadata. */
  metadata?: Record<string, string>;
}

/** Failures of the server's own (a bug, the store): their stack trace is worth logging. */
const KEEPS_STACK: ReadonlySet<Reason> = new Set<Reason>(['INTERNAL', 'STORE_UNAVAILABLE']);

/** A failure with a stable reason, thrown inside the engine and mapped to a status at the edge. */
export class LiveReviewError extends Error {
  readonly code: Code;
  constructor(
    readonly reason: Reason,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    // A refusal of what a client sent is answered, never logged with its stack, and capturing one
    // walks every frame: ~9 us from 20 frames deep, against ~1 us without. Under overload
    // thousands of edits a second are refused as too old; CPU spent on their stacks leaves the
    // server further behind, and more edits too old (docs/benchmarks.md).
    const stackTraceLimit = Error.stackTraceLimit;
    if (!KEEPS_STACK.has(reason)) Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.name = 'LiveReviewError';
    this.code = REASONS[reason].code;
  }
}

export function isLiveReviewError(err: unknown): err is LiveReviewError {
  return err instanceof LiveReviewError;
}

// One constructor per failure that needs details, so callers cannot get them wrong.

export function invalidMessage(field: string, description: string): LiveReviewError {
  return new LiveReviewError('INVALID_MESSAGE', `${field}: ${description}`, {
    fieldViolations: [{ field, description }],
  });
}

export function invalidJoin(field: string, description: string): LiveReviewError {
  return new LiveReviewError('INVALID_JOIN', `${field}: ${description}`, {
    fieldViolations: [{ field, description }],
  });
}

export function slowConsumer(queued: number, bytes: number): LiveReviewError {
  return new LiveReviewError(
    'SLOW_CONSUMER',
    `outbound queue bound reached (${queued} messages, ${bytes} bytes); resume from your last sequence`,
    { retryAfterMs: 1000, metadata: { queuedMessages: String(queued), queuedBytes: String(bytes) } },
  );
}

export function shuttingDown(): LiveReviewError {
  return new LiveReviewError('SERVER_SHUTTING_DOWN', 'server is shutting down; resume elsewhere', {
    retryAfterMs: 500,
  });
}

export function storeUnavailable(cause: unknown): LiveReviewError {
  return new LiveReviewError('STORE_UNAVAILABLE', `storage failed: ${(cause as Error)?.message ?? cause}`, {
    retryAfterMs: 1000,
  });
}

export function rateLimited(subject: string, limit: string, retryAfterMs: number): LiveReviewError {
  return new LiveReviewError('RATE_LIMITED', `rate limit of ${subject} reached (${limit})`, {
    quotaViolations: [{ subject, description: limit }],
    retryAfterMs,
  });
}

export function internalError(cause: unknown): LiveReviewError {
  return new LiveReviewError('INTERNAL', `internal error: ${(cause as Error)?.message ?? String(cause)}`);
}

/** Any thrown value as a LiveReviewError (unknown failures become INTERNAL). */
export function asLiveReviewError(err: unknown): LiveReviewError {
  return isLiveReviewError(err) ? err : internalError(err);
}

/** The HTTP status the edge answers a code with: the Connect protocol's mapping (connectrpc.com/docs/protocol#error-codes), which gRPC-Web carries as HTTP 200 with grpc-status instead. */
export function httpStatusOf(code: Code): number {
  switch (code) {
    case Code.OK:
      return 200;
    case Code.INVALID_ARGUMENT:
    case Code.OUT_OF_RANGE:
    case Code.FAILED_PRECONDITION:
      return 400;
    case Code.UNAUTHENTICATED:
      return 401;
    case Code.PERMISSION_DENIED:
      return 403;
    case Code.NOT_FOUND:
      return 404;
    case Code.ALREADY_EXISTS:
    case Code.ABORTED:
      return 409;

    case Code.RESOURCE_EXHAUSTED:
      return 429;
    case Code.CANCELLED:
      return 499;
    case Code.UNIMPLEMENTED:
      return 501;
    case Code.UNAVAILABLE:
      return 503;
    case Code.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}
