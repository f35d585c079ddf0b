// LiveReviewClient: the SDK's session client over grpc-js, for Node. Everything but the transport
// is the browser-safe core (./core): this class only turns addresses, credentials and keepalive
// into a GrpcTransport.
import type * as grpc from '@grpc/grpc-js';
import { SessionClient, type SessionClientOptions } from './core/session-client.js';
import { GrpcTransport } from './transport/grpc.js';

export interface LiveReviewClientOptions extends Omit<SessionClientOptions, 'transport'> {
  /** host:port of one or more servers; connection attempts go round-robin over them. */
  targets: string[];
  /** Default: plaintext (development). */
  credentials?: grpc.ChannelCredentials;
  /** Metadata sent with every call. */
  metadata?: () => grpc.Metadata;
  /** HTTP/2 keepalive ping interval, ms (default 30000; the server allows it). */
  keepaliveTimeMs?: number;
}

export class LiveReviewClient extends SessionClient {
  constructor(options: LiveReviewClientOptions) {
    super({
      ...options,
      transport: new GrpcTransport({
        targets: options.targets,
        credentials: options.credentials,
        metadata: options.metadata,
        keepaliveTimeMs: options.keepaliveTimeMs,
        reconnectBackoff: {
          baseDelayMs: options.backoff?.baseDelayMs ?? 1000,
          maxDelayMs: options.backoff?.maxDelayMs ?? 30_000,
        },
      }),
    });
  }
}
