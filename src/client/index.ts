// The LiveReview client SDK for Node (import from '@livereview/client', or 'livereview/client' in
// this repository): the browser-safe core plus the grpc-js transport.
export * from './core/index.js';
export { LiveReviewClient, type LiveReviewClientOptions } from './live-review-client.js';
export { GrpcTransport, type GrpcTransportOptions } from './transport/grpc.js';
