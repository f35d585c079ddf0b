// LiveReviewError -> ConnectError: the same code (Connect's codes are gRPC's), the same bounded
// message and rich details as a gRPC status (ErrorInfo, BadRequest, QuotaFailure, RetryInfo, from
// rpc-status.ts), and a Retry-After header when the error says when to try again. Connect maps the
// code to the HTTP status (404 not_found, 429 resource_exhausted, 503 unavailable …); gRPC-Web
// carries it in grpc-status with the details in grpc-status-details-bin.
import { Code, ConnectError } from '@connectrpc/connect';
import type { LiveReviewError } from '../../core/errors.js';
import { toRpcStatus } from '../rpc-status.js';

const TYPE_PREFIX = 'type.googleapis.com/';

export function toConnectError(err: LiveReviewError): ConnectError {
  const status = toRpcStatus(err);
  const headers = new Headers();
  if (err.details.retryAfterMs !== undefined) {
    headers.set('retry-after', String(Math.max(1, Math.ceil(err.details.retryAfterMs / 1000))));
  }
  const connectError = new ConnectError(status.message, err.code as number as Code, headers);
  // Details already encoded (google.protobuf.Any): Connect sends them as they are.
  for (const any of status.details) {
    connectError.details.push({ type: any.typeUrl.slice(TYPE_PREFIX.length), value: any.value });
  }
  return connectError;
}
