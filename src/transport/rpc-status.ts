// LiveReviewError -> google.rpc.Status with rich details (ErrorInfo, BadRequest, QuotaFailure,
// RetryInfo), for call statuses of every transport and for in-stream errors. The reason -> code
// table is src/core/errors.ts.
import { ERROR_DOMAIN, type LiveReviewError } from '../core/errors.js';
import { Any } from '../gen/google/protobuf/any.js';
import { BadRequest, ErrorInfo, QuotaFailure, RetryInfo } from '../gen/google/rpc/error_details.js';
import { Status } from '../gen/google/rpc/status.js';

const TYPE_PREFIX = 'type.googleapis.com/';

// A status goes out as HTTP/2 trailers (grpc-message, grpc-status-details-bin), which peers cap
// (8 KiB is the common default) and which grpc-message inflates up to 12 bytes per character.
// Messages quote what the client sent: a refusal quoting a 30,000-character user id broke the
// whole connection (every call on it hung). What a status carries is bounded here, for every error.
export const MESSAGE_CHARS = 256;
const DETAIL_CHARS = 128;
const DETAIL_ITEMS = 8;
/** Budget for the encoded google.rpc.Status (base64 in grpc-status-details-bin: 4/3 of it). */
const DETAILS_BYTES = 3072;

/** `text` cut to at most `max` UTF-16 units, never inside a surrogate pair (grpc-js URI-encodes the
 * message, and a lone surrogate would make that throw). */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

function clipMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {}).slice(0, DETAIL_ITEMS))
    out[clip(k, DETAIL_CHARS)] = clip(v, DETAIL_CHARS);
  return out;
}

function pack<T>(typeName: string, codec: { encode(m: T): { finish(): Uint8Array } }, message: T): Any {
  const u8 = codec.encode(message).finish();
  return { typeUrl: TYPE_PREFIX + typeName, value: Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength) };
}

/** The google.rpc.Status for an error: ErrorInfo always, plus BadRequest, QuotaFailure, RetryInfo
 * when the error has them; bounded in size (see DETAILS_BYTES). */
export function toRpcStatus(err: LiveReviewError): Status {
  const info = pack('google.rpc.ErrorInfo', ErrorInfo, {
    reason: err.reason,
    domain: ERROR_DOMAIN,
    metadata: clipMetadata(err.details.metadata),
  });
  const optional: Any[] = [];
  const fieldViolations = (err.details.fieldViolations ?? []).slice(0, DETAIL_ITEMS).map((v) => ({
    field: clip(v.field, DETAIL_CHARS),
    description: clip(v.description, DETAIL_CHARS),
  }));
  if (fieldViolations.length) optional.push(pack('google.rpc.BadRequest', BadRequest, { fieldViolations }));
  const violations = (err.details.quotaViolations ?? []).slice(0, DETAIL_ITEMS).map((v) => ({
    subject: clip(v.subject, DETAIL_CHARS),
    description: clip(v.description, DETAIL_CHARS),
  }));
  if (violations.length) optional.push(pack('google.rpc.QuotaFailure', QuotaFailure, { violations }));
  const retry: Any[] = [];
  if (err.details.retryAfterMs !== undefined) {
    const ms = err.details.retryAfterMs;
    retry.push(
      pack('google.rpc.RetryInfo', RetryInfo, {
        retryDelay: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 },
      }),
    );
  }
  const message = clip(err.message, MESSAGE_CHARS);
  const full: Status = { code: err.code, message, details: [info, ...optional, ...retry] };
  // Still over budget (many long violations): ErrorInfo and RetryInfo are what clients act on.
  return Status.encode(full).finish().length <= DETAILS_BYTES
    ? full
    : { code: err.code, message, details: [info, ...retry] };
}
