// Decodes grpc-status-details-bin (google.rpc.Status) as any client would.
import type { Metadata } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, QuotaFailure, RetryInfo } from '../../src/gen/google/rpc/error_details.js';
import { Status } from '../../src/gen/google/rpc/status.js';

export interface DecodedDetails {
  code: number;
  errorInfo?: ErrorInfo;
  badRequest?: BadRequest;
  retryInfo?: RetryInfo;
  quotaFailure?: QuotaFailure;
}

export function decodeStatus(status: Status): DecodedDetails {
  const out: DecodedDetails = { code: status.code };
  for (const any of status.details) {
    const type = any.typeUrl.split('/').pop();
    if (type === 'google.rpc.ErrorInfo') out.errorInfo = ErrorInfo.decode(any.value);
    if (type === 'google.rpc.BadRequest') out.badRequest = BadRequest.decode(any.value);
    if (type === 'google.rpc.RetryInfo') out.retryInfo = RetryInfo.decode(any.value);
    if (type === 'google.rpc.QuotaFailure') out.quotaFailure = QuotaFailure.decode(any.value);
  }
  return out;
}

export function decodeDetails(metadata: Metadata | undefined): DecodedDetails | undefined {
  const raw = metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return undefined;
  return decodeStatus(Status.decode(raw));
}
