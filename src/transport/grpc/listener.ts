// The gRPC port. LiveReview owns the TCP listener and hands each accepted connection to grpc-js
// (Server.createConnectionInjector: grpc-js runs TLS per its credentials, then HTTP/2, as for a port
// it bound itself), so that a connection is bounded before it is a gRPC connection:
// - at most `maxConnections` at once; beyond, a new connection is closed as soon as it is accepted,
//   so the process never runs out of file descriptors and the connections it has keep working;
// - each must send its first bytes (a TLS ClientHello, or the 24-byte HTTP/2 connection preface)
//   within `handshakeTimeoutMs`, or it is closed. Without this a connection that never speaks holds
//   a descriptor until the keepalive notices, 40 s later by default.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type * as grpc from '@grpc/grpc-js';

export interface ListenerLimits {
  maxConnections: number;
  handshakeTimeoutMs: number;
}

export interface ListenerObserver {
  /** The connection cap was reached (true) or connections fell back below it (false). */
  saturated(full: boolean, open: number): void;
  refused(peer: string): void;
  silent(peer: string): void;
}

/** Bytes of the HTTP/2 client connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"). A TLS
 * ClientHello is longer, so this many bytes read is the least any real client sends first. */
const PREFACE_BYTES = 24;

export class GrpcListener {
  private readonly tcp: NetServer;
  private readonly injector: grpc.ConnectionInjector;
  private readonly open = new Set<Socket>();
  private full = false;
  /** Called once no connection is open (see whenAllClosed). */
  private closedWaiters: (() => void)[] = [];

  constructor(
    server: grpc.Server,
    credentials: grpc.ServerCredentials,
    private readonly limits: ListenerLimits,
    private readonly observer: ListenerObserver,
  ) {
    this.injector = server.createConnectionInjector(credentials);
    this.tcp = createServer((socket) => this.accept(socket));
  }

  /** Connections open now (before and after their handshake). */
  get connections(): number {
    return this.open.size;
  }

  /** Listens on host:port (port 0: any free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    const tcp = this.tcp;
    return new Promise((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: host.replace(/^\[(.*)\]$/, '$1'), port }, () => {
        tcp.off('error', reject);
        const address = tcp.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Stops accepting; open connections go on (grpc-js drains them). */
  stopAccepting(): void {
    this.tcp.close();
  }

  /** Resolves once no connection is open: every client has gone (after a GOAWAY, its streams
   * ended) or was closed. */
  whenAllClosed(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** Closes whatever is still open (connections grpc-js never took over: handshakes in progress). */
  destroyAll(): void {
    for (const socket of this.open) socket.destroy();
    this.injector.destroy();
  }

  private accept(socket: Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.open.size >= this.limits.maxConnections) {
      socket.destroy();
      this.observer.refused(peer);
      this.checkSaturation();
      return;
    }
    this.open.add(socket);
    const deadline = setTimeout(() => {
      if (socket.bytesRead < PREFACE_BYTES) {
        this.observer.silent(peer);
        socket.destroy();
      }
    }, this.limits.handshakeTimeoutMs);
    deadline.unref();
    // Errors are the TLS or HTTP/2 layer's to report; this only keeps one from being unhandled.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.open.delete(socket);
      this.checkSaturation();
      if (this.open.size === 0) for (const resolve of this.closedWaiters.splice(0)) resolve();
    });
    this.checkSaturation();
    this.injector.injectConnection(socket);
  }

  /** Reports reaching the cap once, and leaving it once (below 90%), not every refusal. */
  private checkSaturation(): void {
    const n = this.open.size;
    const max = this.limits.maxConnections;
    if (!this.full && n >= max) {
      this.full = true;
      this.observer.saturated(true, n);
    } else if (this.full && n < max * 0.9) {
      this.full = false;
      this.observer.saturated(false, n);
    }
  }
}
