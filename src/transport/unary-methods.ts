// The service's unary methods, once, for every transport: what each does with a decoded request
// and an authenticated principal. The gRPC service (grpc/service.ts) and the HTTP edge
// (http/edge.ts) are adapters that decode, carry the call's metadata and cancellation, and map the
// outcome to their status; `runUnary` is the pipeline they share (malformed requests, authentication,
// error counting and logging).
import { asLiveReviewError, invalidMessage, LiveReviewError } from '../core/errors.js';
import type { Origin } from '../core/model.js';
import type { Logger } from '../observability/logger.js';
import type { Principal } from '../security/tokens.js';
import {
  ExportFormat,
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
  SubmitRequest,
  SubmitResponse,
  type MessageFns,
} from '../gen/codereview/v1/codereview.js';
import { renderReviewJson, renderReviewMarkdown } from '../review/export.js';
import {
  ackToWire,
  commentToWire,
  cursorToWire,
  fileToWire,
  isUndecodable,
  malformedRequest,
  parseInbound,
  participantToWire,
  type Undecodable,
} from './codec.js';
import { countError, type TransportContext } from './context.js';
import { fileBaseFromWire, reviewOfSessionToWire } from './review-codec.js';

export interface UnaryMethod<Req extends object = object, Res = unknown> {
  /** The method's name in the service (GetSession). */
  name: string;
  request: MessageFns<Req>;
  response: MessageFns<Res>;
  /** The user the request claims ('' when it names none): checked against the token's. */
  userOf(request: Req): string;
  handle(request: Req, principal: Principal, signal: AbortSignal): Promise<Res>;
}

const method = <Req extends object, Res>(m: UnaryMethod<Req, Res>) => m as unknown as UnaryMethod;

/** What a response may hold: the largest message the server sends (server.ts sets grpc-js's
 * max_send_message_length to this) less room for the other fields. */
export function responseLimit(maxMessageBytes: number): number {
  return Math.max(maxMessageBytes, 4 * 1024 * 1024) - 4096;
}

/** Diffing every file of an export is bounded in total, since it runs on the event loop. */
const EXPORT_DIFF_BUDGET_MS = 2000;

function checkSize(bytes: number, limit: number): void {
  if (bytes > limit) {
    throw new LiveReviewError('RESPONSE_TOO_LARGE', `the answer is ${bytes} bytes, more than ${limit}`, {
      metadata: { bytes: String(bytes), limit: String(limit) },
    });
  }
}

/** The unary methods by their name in the service. */
export function unaryMethods(ctx: TransportContext): Map<string, UnaryMethod> {
  const { engine, auth } = ctx;
  const limit = responseLimit(ctx.limits.maxMessageBytes);
  const methods = [
    method({
      name: 'OpenReview',
      request: OpenReviewRequest,
      response: OpenReviewResponse,
      userOf: (req) => req.userId,
      handle: async (req, principal, signal) => {
        if (req.files.length === 0) throw invalidMessage('files', 'at least one file is required');
        const role = auth.roleIn(principal, req.sessionId);
        const origin: Origin = {
          userId: principal.userId,
          clientId: principal.userId,
          clientMessageId: req.clientMessageId,
        };
        const files = req.files.map((f, i) => ({
          path: f.path,
          text: f.text,
          ...(f.base ? { base: fileBaseFromWire(`files[${i}].base`, f.base) } : {}),
        }));
        const result = await engine.openReview(req.sessionId, origin, files, role, signal);
        return OpenReviewResponse.fromPartial({
          sequence: result.sequence,
          files: result.files.map(fileToWire),
        });
      },
    }),

    method({
      name: 'GetSession',
      request: GetSessionRequest,
      response: GetSessionResponse,
      userOf: () => '',
      handle: async (req, principal, signal) => {
        auth.roleIn(principal, req.sessionId);
        const page = { size: req.pageSize, token: req.pageToken };
        const s = await engine.getSession(req.sessionId, page, signal);
        return GetSessionResponse.fromPartial({
          sessionId: s.sessionId,
          headSequence: s.headSequence,
          files: s.files.map(fileToWire),
          comments: s.comments.map(commentToWire),
          roster: s.roster.map(participantToWire),
          cursors: s.cursors.map(cursorToWire),
          nextPageToken: s.nextPageToken,
          ...(s.review ? reviewOfSessionToWire(s.review) : {}),
        });
      },
    }),

    method({
      name: 'ListComments',
      request: ListCommentsRequest,
      response: ListCommentsResponse,
      userOf: () => '',
      handle: async (req, principal, signal) => {
        auth.roleIn(principal, req.sessionId);
        const page = { size: req.pageSize, token: req.pageToken };
        const r = await engine.listComments(req.sessionId, req.filePath, req.includeResolved, page, signal);
        return ListCommentsResponse.fromPartial({
          comments: r.comments.map(commentToWire),
          headSequence: r.headSequence,
          nextPageToken: r.nextPageToken,
        });
      },
    }),

    method({
      name: 'Submit',
      request: SubmitRequest,
      response: SubmitResponse,
      userOf: (req) => req.message?.userId ?? '',
      handle: async (req, principal, signal) => {
        const m = req.message;
        if (!m) throw invalidMessage('message', 'is required');
        const role = auth.roleIn(principal, m.sessionId);
        const inbound = parseInbound(m);
        if (inbound.kind !== 'command') {
          throw invalidMessage(
            'message.payload',
            'Submit takes an edit, comment, cursor or presence ACTIVE/IDLE',
          );
        }
        const origin: Origin = {
          userId: principal.userId,
          clientId: m.clientId || principal.userId,
          clientMessageId: m.clientMessageId,
        };
        ctx.metrics.countReceived(m.payload?.$case ?? 'none');
        const ack = await engine.submitUnary(m.sessionId, origin, inbound.command, role, signal);
        return SubmitResponse.fromPartial({ ack: ackToWire(ack) });
      },
    }),

    method({
      name: 'GetFileAt',
      request: GetFileAtRequest,
      response: GetFileAtResponse,
      userOf: () => '',
      handle: async (req, principal, signal) => {
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
    }),

    method({
      name: 'ExportReview',
      request: ExportReviewRequest,
      response: ExportReviewResponse,
      userOf: () => '',
      handle: async (req, principal, signal) => {
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
    }),
  ];
  return new Map(methods.map((m) => [m.name, m]));
}

/**
 * One unary call, whatever carries it: a request that did not decode is refused MALFORMED_REQUEST,
 * the caller is authenticated (`authorization` is the call's header), the method runs with the
 * call's cancellation, and a failure is counted, logged and thrown as a LiveReviewError.
 */
export async function runUnary<Req extends object, Res>(
  ctx: TransportContext,
  m: UnaryMethod<Req, Res>,
  request: Req | Undecodable,
  authorization: string | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<Res> {
  try {
    if (isUndecodable(request)) {
      log.debug({ problem: request.problem }, 'undecodable request');
      throw malformedRequest(`${m.name}Request`, request.problem);
    }
    const principal = await ctx.auth.authenticate(authorization, m.userOf(request));
    return await m.handle(request, principal, signal);
  } catch (err) {
    const e = asLiveReviewError(err);
    countError(ctx, e);
    if (e.reason === 'INTERNAL') log.error({ err }, 'internal error');
    else log.debug({ reason: e.reason }, 'call failed');
    throw e;
  }
}
