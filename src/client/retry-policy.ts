// What a client does with a status code (000_… §5): retry the transient ones (honouring
// RetryInfo), never retry the ones that a retry cannot fix.
import { status as Status, type Metadata } from '@grpc/grpc-js';
import { ErrorInfo, RetryInfo } from '../gen/google/rpc/error_details.js';
import { Status as RpcStatus } from '../gen/google/rpc/status.js';

/** Codes that end a session for good: fix the request, the credentials or the permissions. */
const FATAL = new Set<number>([
  Status.INVALID_ARGUMENT,
  Status.PERMISSION_DENIED,
  Status.UNAUTHENTICATED,
  Status.NOT_FOUND,
  Status.FAILED_PRECONDITION,
  Status.OUT_OF_RANGE,
  Status.UNIMPLEMENTED,
  Status.ABORTED, // superseded: another stream of this client id took over
]);

export function isRetryable(code: number): boolean {
  return !FATAL.has(code);
}

export interface StatusDetails {
  reason: string;
  retryAfterMs: number;
}

/** The ErrorInfo reason and RetryInfo delay of a google.rpc.Status, if present. */
export function detailsOf(status: RpcStatus | undefined): StatusDetails {
  const out: StatusDetails = { reason: '', retryAfterMs: 0 };
  for (const any of status?.details ?? []) {
    const type = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
    if (type === 'google.rpc.ErrorInfo') out.reason = ErrorInfo.decode(any.value).reason;
    if (type === 'google.rpc.RetryInfo') {
      const d = RetryInfo.decode(any.value).retryDelay;
      if (d) out.retryAfterMs = d.seconds * 1000 + Math.floor(d.nanos / 1e6);
    }
  }
  return out;
}

/** The same, from a call's trailing metadata (grpc-status-details-bin). */
export function detailsOfMetadata(metadata: Metadata | undefined): StatusDetails {
  const raw = metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return { reason: '', retryAfterMs: 0 };
  try {
    return detailsOf(RpcStatus.decode(raw));
  } catch {
    return { reason: '', retryAfterMs: 0 };
  }
}
