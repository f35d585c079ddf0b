// The LiveReview client SDK for Node (import from '@livereview/client', or 'livereview/client' in
// this repository): the browser-safe core plus the grpc-js transport.
export * from './core/index.js';
export { LiveReviewClient, type LiveReviewClientOptions } from './live-review-client.js';
export { GrpcTransport, type GrpcTransportOptions } from './transport/grpc.js';
// Also usable from Node (fetch is global since Node 18): the service over the HTTP port, where only
// HTTP/1.1 gets through.
export { ConnectTransport, type ConnectTransportOptions } from './transport/connect.js';
