// The SDK's browser-safe core (import from '@livereview/client/core'): the session client, its
// state and events, over any Transport. No node: imports, no gRPC library: a transport for the
// platform plugs in (the grpc-js one is in '@livereview/client').
export { SessionClient, type SessionClientOptions, type UnaryOptions } from './session-client.js';
export type { CallOptions, JoinParams, SessionStream, Transport } from './transport.js';
export {
  Code,
  LiveReviewCallError,
  OutboxFullError,
  codeName,
  detailsOf,
  isRetryable,
  isTransientRefusal,
  type StatusDetails,
} from './status.js';
export type {
  Ack,
  ClientEvents,
  CommentInfo,
  ConnectionState,
  CursorInfo,
  FileAtInfo,
  FileBaseInfo,
  FileChange,
  FileInfo,
  MessageError,
  PresenceInfo,
  RemoteEdit,
  RolledBackEdit,
  ReviewSummary,
  SessionState,
  SuggestionInfo,
  TextOp,
  VerdictInfo,
  VerdictKind,
  ViewedInfo,
} from './types.js';
export {
  renderUnifiedDiff,
  type DiffHunk,
  type DiffLine,
  type DiffOptions,
  type DiffResult,
  type DiffTooLarge,
  type TextDiff,
} from '../../review/diff.js';
export { toWireOps, fromWireOps } from './wire.js';
export { DocumentState, type PendingOp } from './document-state.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.js';
