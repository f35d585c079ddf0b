// LiveReviewError -> gRPC status with rich details (google.rpc.Status in grpc-status-details-bin),
// and the same google.rpc.Status for in-stream errors. The reason -> code table is src/core/errors.ts.
import { Metadata, type StatusObject } from '@grpc/grpc-js';
import { ERROR_DOMAIN, type LiveReviewError } from '../../core/errors.js';
import { Any } from '../../gen/google/protobuf/any.js';
import { BadRequest, ErrorInfo, QuotaFailure, RetryInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';

const TYPE_PREFIX = 'type.googleapis.com/';

function pack<T>(typeName: string, codec: { encode(m: T): { finish(): Uint8Array } }, message: T): Any {
  const u8 = codec.encode(message).finish();
  return { typeUrl: TYPE_PREFIX + typeName, value: Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength) };
}

/** The google.rpc.Status for an error: ErrorInfo always, plus BadRequest, QuotaFailure, RetryInfo
 * when the error has them. */
export function toRpcStatus(err: LiveReviewError): Status {
  const details: Any[] = [
    pack('google.rpc.ErrorInfo', ErrorInfo, {
      reason: err.reason,
      domain: ERROR_DOMAIN,
      metadata: err.details.metadata ?? {},
    }),
  ];
  if (err.details.fieldViolations?.length) {
    details.push(pack('google.rpc.BadRequest', BadRequest, { fieldViolations: err.details.fieldViolations }));
  }
  if (err.details.quotaViolations?.length) {
    details.push(pack('google.rpc.QuotaFailure', QuotaFailure, { violations: err.details.quotaViolations }));
  }
  if (err.details.retryAfterMs !== undefined) {
    const ms = err.details.retryAfterMs;
    details.push(
      pack('google.rpc.RetryInfo', RetryInfo, {
        retryDelay: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 },
      }),
    );
  }
  return { code: err.code, message: err.message, details };
}

/** A call status (for callback(err) or ending a stream) carrying the rich details. */
export function toGrpcStatus(err: LiveReviewError): StatusObject {
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(Status.encode(toRpcStatus(err)).finish()));
  return { code: err.code, details: err.message, metadata };
}
