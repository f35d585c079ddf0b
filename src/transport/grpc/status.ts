// LiveReviewError -> gRPC call status: the code, the (bounded) message, and the google.rpc.Status
// with its details in grpc-status-details-bin.
import { Metadata, type StatusObject } from '@grpc/grpc-js';
import type { LiveReviewError } from '../../core/errors.js';
import { Status } from '../../gen/google/rpc/status.js';
import { clip, MESSAGE_CHARS, toRpcStatus } from '../rpc-status.js';

/** A call status (for callback(err) or ending a stream) carrying the rich details. */
export function toGrpcStatus(err: LiveReviewError): StatusObject {
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(Status.encode(toRpcStatus(err)).finish()));
  return { code: err.code, details: clip(err.message, MESSAGE_CHARS), metadata };
}
