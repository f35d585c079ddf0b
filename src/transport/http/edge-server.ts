// The HTTP edge's server. Over TLS it speaks HTTP/2, and HTTP/1.1 to clients that do not (ALPN).
//
// A browser keeps at most six HTTP/1.1 connections to one origin, and an open review holds one for
// as long as it is open: its Subscribe. Over HTTP/1.1, with six reviews open in one browser profile
// a seventh tab never loaded, and no tab could submit an edit (Chromium; test/web-tabs.test.ts).
// Over HTTP/2 all of a browser's calls to the origin share one connection. Plaintext stays
// HTTP/1.1: browsers speak HTTP/2 only over TLS (a TLS-terminating proxy in front does the same).
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { Server as NetServer, AddressInfo, Socket } from 'node:net';

export type EdgeRequest = IncomingMessage | Http2ServerRequest;
export type EdgeResponse = ServerResponse | Http2ServerResponse;
export type EdgeHandler = (req: EdgeRequest, res: EdgeResponse) => void;

export interface TlsFiles {
  key: Buffer;
  cert: Buffer;
  /** Clients must present a certificate this CA signed (mTLS). */
  clientCa?: Buffer | undefined;
}

export interface EdgeLimits {
  maxConnections: number;
  /** Calls open at once on one HTTP/2 connection (the gRPC port's limit): without it one
   * connection could hold any number of Subscribe calls, past the connection cap. */
  maxConcurrentStreams: number;
  /** Time a client has to complete its TLS handshake, and to send a request's headers (HTTP/1.1). */
  headersTimeoutMs: number;
  /** An HTTP/2 connection is PINGed this often (HTTP/1.1: TCP keepalive after this idle time; 0:
   * neither)… */
  keepaliveTimeMs: number;
  /** …and closed when a PING is not answered within this time. */
  keepaliveTimeoutMs: number;
}

export interface EdgeServer {
  /** Listens on host:port (0: any free port); resolves with the port. */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting and asks every connection to finish (HTTP/2: GOAWAY; HTTP/1.1: idle ones close
   * now); resolves once all are closed, closing what is still open after `forceAfterMs`. */
  close(forceAfterMs: number): Promise<void>;
}

export function createEdgeServer(
  handler: EdgeHandler,
  tls: TlsFiles | undefined,
  limits: EdgeLimits,
): EdgeServer {
  const server: HttpServer = tls ? http2Server(handler, tls, limits) : createServer(handler);
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  // Every connection, to close what a graceful close leaves open.
  const sockets = new Set<Socket>();
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // An idle Subscribe writes nothing, so nothing fails when its peer is gone: let TCP ask.
    if (limits.keepaliveTimeMs > 0) socket.setKeepAlive(true, limits.keepaliveTimeMs);
  });
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    const stopPinging = keepAlive(session, limits);
    session.once('close', () => {
      sessions.delete(session);
      stopPinging();
    });
  });
  return {
    listen: (host, port) => listenOn(server, host, port),
    close: (forceAfterMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, forceAfterMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        for (const session of sessions) session.close();
        server.closeIdleConnections();
      }),
  };
}

/** Listens on host:port (0: any free port); resolves with the port. */
export function listenOn(server: NetServer, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Node's TLS server options for `tls`: its key pair, and with a client CA, mTLS. */
export function tlsServerOptions(tls: TlsFiles) {
  return {
    key: tls.key,
    cert: tls.cert,
    ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/** PINGs an HTTP/2 connection every keepaliveTimeMs and closes it when a PING is not answered within
 * keepaliveTimeoutMs, as the gRPC port does. A browser that vanished (a laptop closed, a network
 * gone without a word) otherwise stayed in its reviews' rosters: an idle Subscribe writes nothing
 * that could fail. Closing the connection ends its calls, and their participants leave. */
function keepAlive(session: ServerHttp2Session, limits: EdgeLimits): () => void {
  if (limits.keepaliveTimeMs <= 0) return () => undefined;
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const interval = setInterval(() => {
    if (deadline) return;
    deadline = setTimeout(() => session.destroy(), limits.keepaliveTimeoutMs);
    deadline.unref();
    try {
      session.ping((err) => {
        clearTimeout(deadline);
        deadline = undefined;
        if (err) session.destroy();
      });
    } catch {
      session.destroy(); // closed meanwhile
    }
  }, limits.keepaliveTimeMs);
  interval.unref();
  return () => {
    clearInterval(interval);
    clearTimeout(deadline);
  };
}

function http2Server(
  handler: EdgeHandler,
  tls: TlsFiles,
  limits: EdgeLimits,
): Http2SecureServer & HttpServer {
  const server = createSecureServer(
    {
      allowHTTP1: true,
      handshakeTimeout: limits.headersTimeoutMs,
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
      ...tlsServerOptions(tls),
    },
    handler,
  );
  // With allowHTTP1, Node serves HTTP/1.1 connections with its HTTP/1.1 server's code, which reads
  // these from this server (headersTimeout, closeIdleConnections); its types do not say so.
  return server as Http2SecureServer & HttpServer;
}
