// LiveReviewWebClient: the SDK's session client in a browser. Everything but the transport is the
// core (./core): this class turns a base URL and a protocol into a ConnectTransport, as
// LiveReviewClient turns addresses into a GrpcTransport in Node.
import { SessionClient, type SessionClientOptions } from './core/session-client.js';
import { ConnectTransport, type ConnectTransportOptions } from './transport/connect.js';

export interface LiveReviewWebClientOptions
  extends Omit<SessionClientOptions, 'transport'>, ConnectTransportOptions {}

export class LiveReviewWebClient extends SessionClient {
  constructor(options: LiveReviewWebClientOptions) {
    super({
      ...options,
      transport: new ConnectTransport({
        baseUrl: options.baseUrl,
        protocol: options.protocol,
        headers: options.headers,
        fetch: options.fetch,
      }),
    });
  }
}
