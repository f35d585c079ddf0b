// The LiveReview client SDK: the public surface (import from 'livereview/client').
export {
  LiveReviewClient,
  LiveReviewCallError,
  OutboxFullError,
  toWireOps,
  fromWireOps,
  type Ack,
  type ClientEvents,
  type CommentInfo,
  type ConnectionState,
  type CursorInfo,
  type LiveReviewClientOptions,
  type MessageError,
  type PresenceInfo,
  type RemoteEdit,
} from './live-review-client.js';
export { DocumentState, type PendingOp } from './document-state.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.js';
export type { TextOp } from '../ot/text.js';
