// The composition root: store, engine, gRPC server (service, health, reflection), metrics HTTP
// port, logs; and the lifecycle — start, and graceful shutdown (NOT_SERVING, streams told to go
// with a resumable status, drain within the grace, close).
import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
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
import { RedisBus } from '../bus/redis/redis-bus.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { MemoryStore } from '../store/memory/memory-store.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { Denylist, TokenVerifier } from '../security/tokens.js';
import { Authenticator, type Recheckable, type SessionPolicy } from '../transport/grpc/auth.js';
import { createEncoders, type TransportContext } from '../transport/grpc/context.js';
import { codeReviewHandlers, codeReviewServiceDefinition } from '../transport/grpc/service.js';
import type { ServerConfig } from './config.js';

export const SERVICE_NAME = 'codereview.v1.CodeReviewService';
const PROTO_DIR = fileURLToPath(new URL('../../../proto', import.meta.url));

export interface RunningServer {
  readonly port: number;
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
  /** A store to use instead of the one --data names (the caller closes it). */
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

/** A URL without its password, for logs. */
function redactUrl(value: string): string {
  return value.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

function serverCredentials(config: ServerConfig): grpc.ServerCredentials {
  if (!config.tlsCertFile) return grpc.ServerCredentials.createInsecure();
  const keyPair = {
    private_key: readFileSync(config.tlsKeyFile),
    cert_chain: readFileSync(config.tlsCertFile),
  };
  const clientCa = config.tlsClientCaFile ? readFileSync(config.tlsClientCaFile) : null;
  return grpc.ServerCredentials.createSsl(clientCa, [keyPair], clientCa !== null);
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

async function openStore(config: ServerConfig, logger: Logger): Promise<Store> {
  if (config.data === ':memory:') return new MemoryStore();
  if (/^postgres(ql)?:\/\//.test(config.data)) {
    return PostgresStore.open(config.data, {
      retainEvents: config.retainEvents,
      onError: (err) => logger.warn({ err }, 'postgres: survived a failure'),
    });
  }
  return new SqliteStore(config.data, {
    synchronous: config.sqliteSynchronous as 'full' | 'normal',
    groupCommit: config.groupCommit === 'on',
    retainEvents: config.retainEvents,
  });
}

async function connectBus(url: string, logger: Logger): Promise<Bus> {
  if (!/^rediss?:\/\//.test(url))
    throw new Error(`--bus: expected a redis:// URL, got ${JSON.stringify(url)}`);
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
  const store = options.store ?? (await openStore(config, logger));
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
      snapshotEvery: config.snapshotEvery,
      idleAfterMs: config.idleAfterMs,
      maxParticipantsPerSession: config.maxParticipants,
      // UTF-8 needs at most 3 bytes per UTF-16 unit; leave a quarter for framing and comments.
      snapshotChunkChars: Math.max(1024, Math.floor(config.maxMessageBytes / 4)),
      catchUpBatch: 256,
      maxBatch: 256,
      commitRetries: 5,
      dedupeWindow: 10_000,
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
    },
  });
  await engine.start();
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
    encoders: createEncoders({
      serverId,
      maxMessageBytes: config.maxMessageBytes,
      idleAfterMs: config.idleAfterMs,
    }),
  };

  const server = new grpc.Server(grpcOptions(config));
  server.addService(codeReviewServiceDefinition, codeReviewHandlers(ctx));
  const health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  loadReflection().addToServer(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.host}:${config.port}`, serverCredentials(config), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );

  let metricsServer: HttpServer | undefined;
  let metricsPort = -1;
  if (config.metricsPort >= 0) {
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
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
        res
          .writeHead(draining ? 503 : 200, { 'content-type': 'text/plain' })
          .end(draining ? 'draining\n' : 'ok\n');
      } else {
        res.writeHead(404).end();
      }
    };
    metricsServer = config.tlsCertFile
      ? createHttpsServer(
          {
            key: readFileSync(config.tlsKeyFile),
            cert: readFileSync(config.tlsCertFile),
            ...(config.tlsClientCaFile
              ? { ca: readFileSync(config.tlsClientCaFile), requestCert: true, rejectUnauthorized: true }
              : {}),
          },
          handler,
        )
      : createServer(handler);
    const ms = metricsServer;
    metricsPort = await new Promise<number>((resolve, reject) => {
      ms.once('error', reject);
      ms.listen(config.metricsPort, config.metricsHost, () => {
        const addr = ms.address();
        resolve(typeof addr === 'object' && addr ? addr.port : config.metricsPort);
      });
    });
  }
  logger.info(
    {
      host: config.host,
      port,
      metricsPort,
      serverId,
      data: redactUrl(config.data),
      bus: redactUrl(config.bus),
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

  let draining = false;
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
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          logger.warn('grace period over: closing remaining calls');
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      metricsServer?.closeAllConnections();
      await new Promise<void>((resolve) =>
        metricsServer ? metricsServer.close(() => resolve()) : resolve(),
      );
      await ownBus?.close();
      if (!options.store) await store.close(); // a store passed in belongs to the caller
      logger.info('shut down');
      logger.flush();
    })();
    return shutdownPromise;
  };

  return { port, metricsPort, serverId, engine, metrics, logger, shutdown };
}
