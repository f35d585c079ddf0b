// The unary methods of the review features: GetFileAt and ExportReview (beside service.ts, which
// spreads them into the service). Responses are bounded: one larger than the server sends is
// refused RESPONSE_TOO_LARGE instead of failing in grpc-js.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { invalidMessage, LiveReviewError } from '../../core/errors.js';
import {
  CodeReviewServiceService,
  ExportFormat,
  ExportReviewRequest as ExportReviewRequestCodec,
  ExportReviewResponse,
  GetFileAtRequest as GetFileAtRequestCodec,
  GetFileAtResponse,
  type ExportReviewRequest,
  type GetFileAtRequest,
} from '../../gen/codereview/v1/codereview.js';
import { renderReviewJson, renderReviewMarkdown } from '../../review/export.js';
import { tolerantDecoder } from '../codec.js';
import type { TransportContext } from '../context.js';
import type { unary } from './service.js';

/** What a response may hold: the largest message the server sends (server.ts sets grpc-js's
 * max_send_message_length to this) less room for the other fields. */
export function responseLimit(maxMessageBytes: number): number {
  return Math.max(maxMessageBytes, 4 * 1024 * 1024) - 4096;
}

/** Diffing every file of an export is bounded in total, since it runs on the event loop. */
const EXPORT_DIFF_BUDGET_MS = 2000;

export const reviewMethodDefinitions = {
  getFileAt: {
    ...CodeReviewServiceService.getFileAt,
    requestDeserialize: tolerantDecoder(GetFileAtRequestCodec),
  },
  exportReview: {
    ...CodeReviewServiceService.exportReview,
    requestDeserialize: tolerantDecoder(ExportReviewRequestCodec),
  },
} as unknown as ServiceDefinition;

/** The handlers, made with service.ts's unary wrapper (authentication, cancellation, errors). */
export function reviewHandlers(ctx: TransportContext, wrap: typeof unary) {
  const { engine, auth } = ctx;
  const limit = responseLimit(ctx.limits.maxMessageBytes);
  return {
    getFileAt: wrap(
      ctx,
      'GetFileAt',
      () => '',
      async (req: GetFileAtRequest, principal, signal) => {
        auth.roleIn(principal, req.sessionId);
        const f = await engine.getFileAt(req.sessionId, req.filePath, req.sequence, signal);
        checkSize(Buffer.byteLength(f.text), limit);
        return GetFileAtResponse.fromPartial({
          filePath: f.path,
          sequence: f.sequence,
          exists: f.exists,
          version: f.version,
          text: f.text,
        });
      },
    ),

    exportReview: wrap(
      ctx,
      'ExportReview',
      () => '',
      async (req: ExportReviewRequest, principal, signal) => {
        auth.roleIn(principal, req.sessionId);
        const json = req.format === ExportFormat.EXPORT_FORMAT_JSON;
        if (
          !json &&
          req.format !== ExportFormat.EXPORT_FORMAT_MARKDOWN &&
          req.format !== ExportFormat.EXPORT_FORMAT_UNSPECIFIED
        ) {
          throw invalidMessage('format', `unknown format ${req.format}: MARKDOWN or JSON`);
        }
        const review = await engine.exportReview(req.sessionId, signal);
        const options = { diffBudgetMs: EXPORT_DIFF_BUDGET_MS };
        const content = json ? renderReviewJson(review, options) : renderReviewMarkdown(review, options);
        checkSize(Buffer.byteLength(content), limit);
        return ExportReviewResponse.fromPartial({
          format: json ? ExportFormat.EXPORT_FORMAT_JSON : ExportFormat.EXPORT_FORMAT_MARKDOWN,
          contentType: json ? 'application/json' : 'text/markdown; charset=utf-8',
          content,
          headSequence: review.headSequence,
        });
      },
    ),
  };
}

function checkSize(bytes: number, limit: number): void {
  if (bytes > limit) {
    throw new LiveReviewError('RESPONSE_TOO_LARGE', `the answer is ${bytes} bytes, more than ${limit}`, {
      metadata: { bytes: String(bytes), limit: String(limit) },
    });
  }
}
