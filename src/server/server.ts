// The composition root: store, engine, gRPC server (service, health, reflection), the HTTP edge
// (web app, Connect, gRPC-Web), metrics HTTP port, logs; and the lifecycle — start, and graceful shutdown (NOT_SERVING, streams told to go
// with a resumable status, drain within the grace, close).
import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { systemClock, type Clock } from '../core/clock.js';
import { Engine } from '../core/engine.js';
import { shuttingDown } from '../core/errors.js';
import type { Bus } from '../core/bus.js';
import type { Store } from '../core/store.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { MemoryStore } from '../store/memory/memory-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { Denylist, TokenVerifier } from '../security/tokens.js';
import { Authenticator, type Recheckable, type SessionPolicy } from '../transport/auth.js';
import { createEncoders, type TransportContext } from '../transport/context.js';
import { installGrpcJsFixes } from '../transport/grpc/grpc-js-fixes.js';
import { framedEncoders } from '../transport/framed-encoders.js';
import { installPreFraming } from '../transport/grpc/framed-messages.js';
import { GrpcListener } from '../transport/grpc/listener.js';
import {
  createEdgeServer,
  listenOn,
  tlsServerOptions,
  type TlsFiles,
} from '../transport/http/edge-server.js';
import { codeReviewHandlers, codeReviewServiceDefinition } from '../transport/grpc/service.js';
import { unaryMethods } from '../transport/unary-methods.js';
import type { ServerConfig } from './config.js';
import { gcReport } from './cpu-budget.js';

export const SERVICE_NAME = 'codereview.v1.CodeReviewService';
const PROTO_DIR = fileURLToPath(new URL('../../../proto', import.meta.url));
/** The web app as `npm run build:web` leaves it (dist/web, beside dist/src). */
const WEB_ROOT = fileURLToPath(new URL('../../web', import.meta.url));

export interface RunningServer {
  readonly port: number;
  /** The HTTP edge's port (web app, Connect, gRPC-Web); -1 when it is off. */
  readonly httpPort: number;
  /** -1 when the metrics port is off. */
  readonly metricsPort: number;
  readonly serverId: string;
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Graceful shutdown; resolves when everything is closed. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** A store to use instead of the one --data names (closed at shutdown like that one). */
  store?: Store;
  clock?: Clock;
  /** Log destination (tests capture logs); stdout by default. */
  logDestination?: NodeJS.WritableStream;
  /** Policy hook: a principal's role in a session, instead of the token's `sessions` claim. */
  sessionPolicy?: SessionPolicy;
  /** Cluster mode with this bus (tests run several instances in one process on a LocalHub);
   * otherwise `--bus` says which, if any. The caller closes a bus it passes. */
  bus?: Bus;
}

/** Events a `--data :memory:` store keeps behind its oldest snapshot when --retain-events is 0. */
const MEMORY_RETAIN_EVENTS = 10_000;

/** A URL without its password, for logs. */
function redactUrl(value: string): string {
  return value.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

/** The soft open-file limit of this process (Linux), or undefined where it cannot be read. */
function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!line) return undefined;
    return line[1] === 'unlimited' ? Infinity : Number(line[1]);
  } catch {
    return undefined;
  }
}

/** --max-connections, with 0 meaning: leave 128 descriptors (at least half) of the open-file
 * limit for everything else; 896 (as under the common limit of 1024) where it is unknown. */
function connectionCap(configured: number): number {
  if (configured > 0) return configured;
  const limit = openFileLimit() ?? 1024;
  return Math.max(1, Math.max(Math.floor(limit / 2), limit - 128));
}

/** A listen failure that says which port, and which option moves or disables it. */
function listenError(err: unknown, what: string, host: string, port: number, fix: string): Error {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const why =
    code === 'EADDRINUSE'
      ? 'is already in use'
      : code === 'EACCES'
        ? 'is not allowed for this user'
        : code === 'EADDRNOTAVAIL'
          ? 'is not an address of this machine'
          : `cannot be listened on (${(err as Error).message})`;
  return new Error(`the ${what} ${host}:${port} ${why}: ${fix}`);
}

function serverCredentials(tls: TlsFiles | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const clientCa = tls.clientCa ?? null;
  return grpc.ServerCredentials.createSsl(
    clientCa,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    clientCa !== null,
  );
}

async function authenticator(
  config: ServerConfig,
  policy: SessionPolicy | undefined,
): Promise<Authenticator> {
  const configured = config.authSecretFile || config.authPublicKeyFile || config.authJwksFile;
  const verifier = configured
    ? await TokenVerifier.fromFiles({
        secretFile: config.authSecretFile || undefined,
        publicKeyFile: config.authPublicKeyFile || undefined,
        jwksFile: config.authJwksFile || undefined,
        issuer: config.authIssuer,
        audience: config.authAudience,
      })
    : undefined;
  return new Authenticator(verifier, new Denylist(config.authDenylistFile || undefined), policy);
}

async function openStore(config: ServerConfig, logger: Logger, metrics: Metrics): Promise<Store> {
  if (config.data === ':memory:') {
    // The log lives in RAM: bounded by default (a long-running :memory: server grew without bound).
    return new MemoryStore({
      retainEvents: config.retainEvents > 0 ? config.retainEvents : MEMORY_RETAIN_EVENTS,
      groupCommit: config.groupCommit === 'on',
    });
  }
  if (/^postgres(ql)?:\/\//.test(config.data)) {
    // Loaded only for cluster mode: with ioredis, 2.5–15 MB more RSS at start (5 starts).
    const { PostgresStore } = await import('../store/postgres/postgres-store.js');
    return PostgresStore.open(config.data, {
      retainEvents: config.retainEvents,
      onError: (err) => logger.warn({ err }, 'postgres: survived a failure'),
    });
  }
  return new SqliteStore(config.data, {
    synchronous: config.sqliteSynchronous as 'full' | 'normal',
    groupCommit: config.groupCommit === 'on',
    retainEvents: config.retainEvents,
    checkpointNice: config.checkpointNice,
    observer: {
      walFlushed: (seconds) => metrics.walFlushDuration.observe(seconds),
      commitsHeld: (seconds) => metrics.commitsHeld.observe(seconds),
      tailCopyFailed: (message) => {
        metrics.storeAnomalies.inc({ kind: 'tail_copy_failed' });
        logger.warn(
          { err: message },
          'sqlite: copying the tail into the session log failed; the next copy retries',
        );
      },
      duplicatesKept: (duplicates) => {
        metrics.storeAnomalies.inc({ kind: 'duplicate_kept' }, duplicates.length);
        logger.error(
          { duplicates },
          'sqlite: events whose client message id was already in their session log were kept without it ' +
            '(a resend was committed twice: please report this)',
        );
      },
    },
  });
}

async function connectBus(url: string, logger: Logger): Promise<Bus> {
  if (!/^rediss?:\/\//.test(url))
    throw new Error(`--bus: expected a redis:// URL, got ${JSON.stringify(url)}`);
  const { RedisBus } = await import('../bus/redis/redis-bus.js');
  return RedisBus.connect(url, { onError: (err) => logger.warn({ err }, 'bus: survived a failure') });
}

function grpcOptions(config: ServerConfig): grpc.ServerOptions {
  const options: grpc.ServerOptions = {
    'grpc.keepalive_time_ms': config.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': config.keepaliveTimeoutMs,
    'grpc.max_concurrent_streams': config.maxConcurrentStreams,
    'grpc.max_receive_message_length': config.maxMessageBytes,
    // Outbound messages are bounded by snapshot chunking; allow the client default (4 MiB).
    'grpc.max_send_message_length': Math.max(config.maxMessageBytes, 4 * 1024 * 1024),
    // grpc-js keeps channelz statistics (a tracker per connection and per call, counters per
    // message) even when no channelz service is served, as here: off, it measured ~2 KB less per
    // connection and less CPU per message (docs/benchmarks.md).
    'grpc.enable_channelz': 0,
  };
  if (config.maxConnectionAgeMs > 0) options['grpc.max_connection_age_ms'] = config.maxConnectionAgeMs;
  if (config.maxConnectionAgeGraceMs > 0)
    options['grpc.max_connection_age_grace_ms'] = config.maxConnectionAgeGraceMs;
  if (config.maxConnectionIdleMs > 0) options['grpc.max_connection_idle_ms'] = config.maxConnectionIdleMs;
  return options;
}

function loadReflection(): ReflectionService {
  const definition = protoLoader.loadSync(['codereview/v1/codereview.proto'], {
    includeDirs: [PROTO_DIR],
    keepCase: true,
  });
  return new ReflectionService(definition);
}

/** The HTTP(S) port serving /metrics and /healthz (TLS and mTLS like the gRPC port). */
function createMetricsServer(
  tls: TlsFiles | undefined,
  metrics: Metrics,
  engine: Engine,
  draining: () => boolean,
): HttpServer {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/metrics') {
      metrics.sessions.set(engine.liveSessions);
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500).end(String(err));
        },
      );
    } else if (req.url === '/healthz') {
      const d = draining();
      res.writeHead(d ? 503 : 200, { 'content-type': 'text/plain' }).end(d ? 'draining\n' : 'ok\n');
    } else {
      res.writeHead(404).end();
    }
  };
  return tls ? createHttpsServer(tlsServerOptions(tls), handler) : createServer(handler);
}

/** The TLS files, read once for the gRPC, HTTP and metrics ports (undefined: plaintext). */
function tlsFilesOf(config: ServerConfig): TlsFiles | undefined {
  if (!config.tlsCertFile) return undefined;
  return {
    key: readFileSync(config.tlsKeyFile),
    cert: readFileSync(config.tlsCertFile),
    clientCa: config.tlsClientCaFile ? readFileSync(config.tlsClientCaFile) : undefined,
  };
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const serverId = randomUUID();
  const logger = createLogger(config.logLevel, serverId, options.logDestination);
  const metrics = new Metrics();
  const clock = options.clock ?? systemClock;
  const auth = await authenticator(config, options.sessionPolicy);
  if (!auth.enabled) {
    if (!LOOPBACK.test(config.host) && !config.insecure) {
      throw new Error(
        `refusing to serve ${config.host} without authentication: configure --auth-secret-file, ` +
          '--auth-public-key-file or --auth-jwks-file, or pass --insecure to accept anyone',
      );
    }
    logger.warn(
      { host: config.host, insecure: config.insecure },
      'DEVELOPMENT MODE: no authentication configured; every caller is trusted as the user it claims, with the author role',
    );
  }
  const gc = gcReport(config.gcHelperThreads);
  if (gc) logger[gc.level]({ cpus: gc.cpus, gcHelperThreads: config.gcHelperThreads }, gc.message);
  const store = options.store ?? (await openStore(config, logger, metrics));
  const ownBus = !options.bus && config.bus ? await connectBus(config.bus, logger) : undefined;
  const bus = options.bus ?? ownBus;
  const engine = new Engine({
    store,
    clock,
    instanceId: serverId,
    cluster: bus && {
      bus,
      heartbeatMs: config.clusterHeartbeatMs,
      expiryMs: config.clusterExpiryMs,
      pollMs: config.clusterPollMs,
      onError: (what, err) => logger.warn({ err, what }, 'cluster: survived a failure'),
    },
    config: {
      historyVersions: config.historyVersions,
      limits: {
        maxLineChars: config.maxLineChars,
        maxFileChars: config.maxFileChars,
        maxSessionChars: config.maxSessionChars,
        maxFiles: config.maxFilesPerSession,
        maxComments: config.maxCommentsPerSession,
        maxCommentChars: config.maxCommentChars,
        maxRebaseWork: config.maxRebaseWork,
      },
      snapshotEvery: config.snapshotEvery,
      idleAfterMs: config.idleAfterMs,
      maxParticipantsPerSession: config.maxParticipants,
      // UTF-8 needs at most 3 bytes per UTF-16 unit; leave a quarter for framing and comments.
      snapshotChunkChars: Math.max(1024, Math.floor(config.maxMessageBytes / 4)),
      catchUpBatch: 256,
      maxBatch: 256,
      commitRetries: 5,
      dedupeWindow: 64,
      presenceBatchMs: config.presenceBatchMs,
      evictAfterMs: config.evictAfterMs,
      maxSessions: config.maxSessions,
      rateLimits: {
        userPerSecond: config.rateUserPerSecond,
        userBurst: config.rateUserBurst,
        sessionPerSecond: config.rateSessionPerSecond,
        sessionBurst: config.rateSessionBurst,
      },
    },
    hooks: {
      committed: (_sessionId, events, ms) => {
        metrics.commits.inc(events);
        metrics.commitDuration.observe(ms / 1000);
      },
      storeFailed: (sessionId, err) => logger.error({ session: sessionId, err }, 'store operation failed'),
      conflicted: () => metrics.commitConflicts.inc(),
      forwarded: (_sessionId, commands) => metrics.forwardedCommands.inc(commands),
    },
  });
  await engine.start();
  const encoders = createEncoders({
    serverId,
    maxMessageBytes: config.maxMessageBytes,
    idleAfterMs: config.idleAfterMs,
  });
  const ctx: TransportContext = {
    engine,
    metrics,
    logger,
    limits: {
      maxMessages: config.outboundQueueMessages,
      maxBytes: config.outboundQueueBytes,
      maxMessageBytes: config.maxMessageBytes,
      maxInflight: config.maxInflight,
      joinTimeoutMs: config.joinTimeoutMs,
      maxStreamDurationMs: config.maxStreamDurationMs,
      refreshAheadMs: config.authRefreshAheadMs,
    },
    auth,
    liveStreams: new Set<Recheckable>(),
    encoders,
    framedEncoders: framedEncoders(encoders),
  };

  installGrpcJsFixes();
  installPreFraming();
  const server = new grpc.Server(grpcOptions(config));
  const methods = unaryMethods(ctx);
  server.addService(codeReviewServiceDefinition(methods), codeReviewHandlers(ctx, methods));
  const health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  loadReflection().addToServer(server);

  let draining = false;
  const edgeShutdown = new AbortController();
  const maxConnections = connectionCap(config.maxConnections);
  // Loaded only when it is served: a gRPC-only server does not carry Connect and the web edge.
  const createHttpEdge =
    config.httpPort >= 0 ? (await import('../transport/http/edge.js')).createHttpEdge : undefined;
  const tls = tlsFilesOf(config);
  const httpServer = createHttpEdge
    ? createEdgeServer(
        createHttpEdge(ctx, methods, {
          corsOrigins: config.corsOrigins
            .split(',')
            .map((o) => o.trim())
            .filter(Boolean),
          webRoot: WEB_ROOT,
          maxMessageBytes: config.maxMessageBytes,
          shutdownSignal: edgeShutdown.signal,
        }),
        tls,
        {
          maxConnections,
          maxConcurrentStreams: config.maxConcurrentStreams,
          headersTimeoutMs: Math.max(1000, config.handshakeTimeoutMs),
          keepaliveTimeMs: config.keepaliveTimeMs,
          keepaliveTimeoutMs: config.keepaliveTimeoutMs,
        },
      )
    : undefined;
  const metricsServer =
    config.metricsPort >= 0 ? createMetricsServer(tls, metrics, engine, () => draining) : undefined;
  const listener = new GrpcListener(
    server,
    serverCredentials(tls),
    { maxConnections, handshakeTimeoutMs: config.handshakeTimeoutMs },
    {
      saturated: (full, open) =>
        full
          ? logger.warn({ open, maxConnections }, 'connection limit reached: refusing new connections')
          : logger.info({ open, maxConnections }, 'below the connection limit again'),
      refused: (peer) => logger.debug({ peer }, 'connection refused: at the connection limit'),
      silent: (peer) =>
        logger.debug({ peer, ms: config.handshakeTimeoutMs }, 'connection closed: it sent nothing in time'),
    },
  );
  let port: number;
  let metricsPort = -1;
  let httpPort = -1;
  try {
    if (metricsServer) {
      metricsPort = await listenOn(metricsServer, config.metricsHost, config.metricsPort).catch((err) => {
        throw listenError(
          err,
          'metrics port (/metrics, /healthz)',
          config.metricsHost,
          config.metricsPort,
          'choose another with --metrics-port <port> (0: any free port) or turn it off with --metrics-port -1',
        );
      });
    }
    if (httpServer) {
      httpPort = await httpServer.listen(config.host, config.httpPort).catch((err) => {
        throw listenError(
          err,
          'HTTP port (web app, Connect, gRPC-Web)',
          config.host,
          config.httpPort,
          'choose another with --http-port <port> (0: any free port) or turn it off with --http-port -1',
        );
      });
    }
    port = await listener.listen(config.host, config.port).catch((err) => {
      throw listenError(
        err,
        'gRPC port',
        config.host,
        config.port,
        'choose another with --port <port> (0: any free port)',
      );
    });
  } catch (err) {
    listener.destroyAll();
    server.forceShutdown();
    metricsServer?.close();
    void httpServer?.close(0);
    await engine.close(shuttingDown());
    await store.close();
    throw err;
  }
  logger.info(
    {
      host: config.host,
      port,
      httpPort,
      metricsPort,
      serverId,
      data: redactUrl(config.data),
      bus: redactUrl(config.bus),
      maxConnections,
    },
    'listening',
  );

  // Live streams are re-checked for revocation and changed grants every --auth-recheck-ms.
  const recheck = setInterval(
    () => {
      for (const s of [...ctx.liveStreams]) s.recheck();
    },
    Math.max(100, config.authRecheckMs),
  );
  recheck.unref();

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    shutdownPromise ??= (async () => {
      draining = true;
      clearInterval(recheck);
      logger.info({ graceMs }, 'shutting down: NOT_SERVING, telling streams to resume elsewhere');
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(SERVICE_NAME, 'NOT_SERVING');
      // Streams end with UNAVAILABLE + RetryInfo; commits in flight finish first.
      await engine.close(shuttingDown());
      listener.stopAccepting();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          logger.warn('grace period over: closing remaining calls');
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        // grpc-js calls back once the HTTP/2 sessions it closed have closed. On Node 24 the
        // HTTP/2 server closes them itself first, and grpc-js, finding them closing, calls back at
        // once with their streams still open: the connections closing is what says they are done.
        server.tryShutdown(() => {
          void listener.whenAllClosed().then(() => {
            clearTimeout(force);
            resolve();
          });
        });
      });
      listener.destroyAll();
      if (httpServer) {
        // Streams have their UNAVAILABLE status (engine.close); let it reach the clients, briefly.
        edgeShutdown.abort(shuttingDown());
        await httpServer.close(Math.min(graceMs, 1000));
      }
      await ownBus?.close();
      await store.close();
      // Last: /healthz answers 503 (draining) until everything else is closed.
      if (metricsServer) {
        metricsServer.closeAllConnections();
        await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      }
      logger.info('shut down');
      logger.flush();
    })();
    return shutdownPromise;
  };

  return { port, httpPort, metricsPort, serverId, engine, metrics, logger, shutdown };
}
