// Status codes and what the SDK does with each (000_… §5): retry the transient ones (honouring
// RetryInfo), never retry what a retry cannot fix. The numbers are gRPC's canonical codes, which
// Connect and gRPC-Web share, so every transport reports failures in these terms.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { ErrorInfoSchema, RetryInfoSchema } from '../../gen/es/google/rpc/error_details_pb.js';
import type { Status } from '../../gen/es/google/rpc/status_pb.js';

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

const NAMES = Object.fromEntries(Object.entries(Code).map(([name, code]) => [code, name]));

/** The name of a status code, e.g. 5 -> "NOT_FOUND". */
export function codeName(code: number): string {
  return NAMES[code] ?? `CODE_${code}`;
}

/** Codes that end a session for good: fix the request, the credentials or the permissions. */
const FATAL = new Set<number>([
  Code.INVALID_ARGUMENT,
  Code.PERMISSION_DENIED,
  Code.UNAUTHENTICATED,
  Code.NOT_FOUND,
  Code.ALREADY_EXISTS,
  Code.FAILED_PRECONDITION,
  Code.OUT_OF_RANGE,
  Code.UNIMPLEMENTED,
  Code.ABORTED, // superseded: another stream of this client id took over
]);

/** Whether a stream that ended with `code` is worth reconnecting. */
export function isRetryable(code: number): boolean {
  return !FATAL.has(code);
}

/** Codes of an in-stream refusal that said "not now" rather than "no": the message was not applied
 * and is sent again (same client message id) after the server's RetryInfo delay. */
const TRANSIENT_REFUSALS = new Set<number>([
  Code.RESOURCE_EXHAUSTED,
  Code.UNAVAILABLE,
  Code.DEADLINE_EXCEEDED,
  Code.CANCELLED,
]);

export function isTransientRefusal(code: number): boolean {
  return TRANSIENT_REFUSALS.has(code);
}

/** A unary call, the session or one message ended with a status. Transports report every failure
 * as one of these. */
export class LiveReviewCallError extends Error {
  constructor(
    readonly code: number,
    /** The stable ErrorInfo reason (docs/errors.md), '' when the server gave none. */
    readonly reason: string,
    message: string,
    /** The server's RetryInfo delay, ms (0: none). */
    readonly retryAfterMs = 0,
  ) {
    super(message);
    this.name = 'LiveReviewCallError';
  }
}

/** Thrown by edit and comment methods when the outbox holds `outboxLimit` unacknowledged operations. */
export class OutboxFullError extends Error {
  constructor(readonly limit: number) {
    super(`outbox full: ${limit} operations are waiting for the server; wait for 'synced' or reconnection`);
    this.name = 'OutboxFullError';
  }
}

export interface StatusDetails {
  reason: string;
  retryAfterMs: number;
}

/** The ErrorInfo reason and RetryInfo delay of a google.rpc.Status, if present. */
export function detailsOf(status: Status | undefined): StatusDetails {
  const out: StatusDetails = { reason: '', retryAfterMs: 0 };
  for (const any of status?.details ?? []) {
    try {
      const info = anyUnpack(any, ErrorInfoSchema);
      if (info) out.reason = info.reason;
      const retry = anyUnpack(any, RetryInfoSchema)?.retryDelay;
      if (retry) out.retryAfterMs = Number(retry.seconds) * 1000 + Math.floor(retry.nanos / 1e6);
    } catch {
      // A detail that does not decode tells us nothing; the code still does.
    }
  }
  return out;
}

/** The error of a google.rpc.Status (an in-stream refusal). */
export function errorOf(status: Status | undefined): LiveReviewCallError {
  const d = detailsOf(status);
  return new LiveReviewCallError(
    status?.code ?? Code.UNKNOWN,
    d.reason,
    status?.message ?? '',
    d.retryAfterMs,
  );
}
