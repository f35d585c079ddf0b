// The LiveReview client SDK for browsers (import from '@livereview/client/browser'): the core plus
// the Connect / gRPC-Web transport over fetch. Nothing here needs Node or a gRPC library.
export * from './core/index.js';
export { ConnectTransport, callErrorOf, type ConnectTransportOptions } from './transport/connect.js';
export { LiveReviewWebClient, type LiveReviewWebClientOptions } from './live-review-web-client.js';
