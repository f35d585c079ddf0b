// Every knob of the server, once: its flag, environment variable, config-file key, default, and
// why that default. Precedence: flag > environment > config file (--config FILE, JSON) > default.
// The README's configuration table is generated from this list (npm run docs:config).
import { readFileSync } from 'node:fs';
import { DEFAULT_CONTENT_LIMITS } from '../core/content-limits.js';
import { BACKGROUND_NICE } from '../store/sqlite/background-priority.js';

interface OptionSpec {
  /** camelCase key; flag is --kebab-case, env is LIVEREVIEW_SNAKE_CASE. */
  key: string;
  type: 'string' | 'int' | 'bool';
  default: string | number | boolean;
  description: string;
  /** Why this default. */
  why: string;
}

const spec = <const S extends OptionSpec>(s: S) => s;

export const OPTIONS = [
  spec({
    key: 'host',
    type: 'string',
    default: '127.0.0.1',
    description: 'Address to listen on for gRPC.',
    why: 'Loopback: nothing is exposed until an operator chooses to.',
  }),
  spec({
    key: 'port',
    type: 'int',
    default: 50051,
    description: 'gRPC port (0: any free port).',
    why: 'The customary gRPC port.',
  }),
  spec({
    key: 'httpPort',
    type: 'int',
    default: 8080,
    description:
      'HTTP port on --host for browsers and curl: the web app, and the service over Connect (JSON, binary) and gRPC-Web (0: any free port, -1: off).',
    why: 'The conventional development HTTP port; a review opens in a browser with nothing else to run.',
  }),
  spec({
    key: 'corsOrigins',
    type: 'string',
    default: '',
    description:
      'Comma-separated origins whose pages may call the HTTP port (* for any); the web app served by the port itself needs none.',
    why: 'Cross-origin calls carry bearer tokens: allow them deliberately.',
  }),
  spec({
    key: 'data',
    type: 'string',
    default: './livereview-data',
    description:
      'Data directory (SQLite database livereview.db); postgres://USER@HOST:PORT/DB for a PostgreSQL log shared by several instances (cluster mode, with --bus); or :memory: to keep nothing.',
    why: 'Durable by default: an acknowledged edit survives a crash.',
  }),
  spec({
    key: 'bus',
    type: 'string',
    default: '',
    description:
      'Cluster mode: redis://HOST:PORT of the Redis that carries events, presence and cursors between instances sharing --data postgres://… (empty: one instance).',
    why: 'One instance needs no bus; several share a PostgreSQL log and a Redis for low-latency fan-out.',
  }),
  spec({
    key: 'clusterHeartbeatMs',
    type: 'int',
    default: 1000,
    description: 'Cluster mode: how often an instance says on the bus that it is alive.',
    why: 'Cheap (one small message per instance), and it bounds how fast a dead instance is noticed.',
  }),
  spec({
    key: 'clusterExpiryMs',
    type: 'int',
    default: 5000,
    description:
      'Cluster mode: an instance not heard from for this long is gone; its participants are shown LEFT.',
    why: 'Five missed heartbeats: a GC pause or a Redis blip does not empty a roster, a dead instance does within seconds.',
  }),
  spec({
    key: 'clusterPollMs',
    type: 'int',
    default: 1000,
    description:
      'Cluster mode: how often the log heads of sessions with participants here are read, to find events the bus dropped.',
    why: 'Redis pub/sub may drop; the log may not. A dropped event is delivered within a second, one query per interval for all sessions.',
  }),
  spec({
    key: 'sqliteSynchronous',
    type: 'string',
    default: 'full',
    description: 'full: fsync every commit (survives power loss); normal: survives a process crash only.',
    why: 'An acknowledged review event must survive the machine going down.',
  }),
  spec({
    key: 'groupCommit',
    type: 'string',
    default: 'on',
    description:
      'on: appends arriving together (any sessions) share one transaction and one fsync (with `:memory:`, one turn of the event loop).',
    why: 'Measured in docs/benchmarks.md: far more events per second at the same durability, and `:memory:` keeps up under overload.',
  }),
  spec({
    key: 'checkpointNice',
    type: 'int',
    default: BACKGROUND_NICE,
    description:
      "Nice value (0–19) of the SQLite store's checkpoint thread, which copies the log into the database file (Linux; 0: the process's own priority).",
    why: 'Its once-a-second copy then waits for the event loop instead of sharing a core with it: typing p99 0.79x on one core (docs/benchmarks.md, 2026-12-06, midday).',
  }),
  spec({
    key: 'retainEvents',
    type: 'int',
    default: 0,
    description:
      'Events kept per session behind its oldest kept snapshot (0: keep the whole log; with --data :memory:, 0 means 10000, since that log lives in RAM).',
    why: 'A review log is small and worth keeping on disk; a client resuming from before the retained log gets a fresh snapshot.',
  }),
  spec({
    key: 'metricsHost',
    type: 'string',
    default: '127.0.0.1',
    description: 'Address of the HTTP port serving /metrics and /healthz.',
    why: 'Loopback: metrics reveal session counts; expose deliberately.',
  }),
  spec({
    key: 'metricsPort',
    type: 'int',
    default: 9464,
    description: 'HTTP port for /metrics and /healthz (0: any free port, -1: off).',
    why: 'The Prometheus exporter convention.',
  }),
  spec({
    key: 'logLevel',
    type: 'string',
    default: 'info',
    description: 'trace, debug, info, warn, error, silent.',
    why: 'One line per stream event at info.',
  }),
  spec({
    key: 'maxConnections',
    type: 'int',
    default: 0,
    description:
      'Connections open at once on the gRPC port; beyond, new ones are closed at accept (0: the open-file limit minus 128, at least half of it; 896 where the limit cannot be read).',
    why: 'Past the open-file limit the process can accept nothing and open no file, and every call fails; 128 descriptors stay free for the store, logs and the metrics port.',
  }),
  spec({
    key: 'handshakeTimeoutMs',
    type: 'int',
    default: 5000,
    description:
      'A new connection must send its first bytes (TLS ClientHello or HTTP/2 preface) within this time or is closed.',
    why: 'A real client speaks within one round trip of connecting; a connection that never speaks would otherwise hold a descriptor until the keepalive notices (40 s).',
  }),
  spec({
    key: 'keepaliveTimeMs',
    type: 'int',
    default: 30_000,
    description:
      'Send an HTTP/2 PING after this much idle time on a connection (the gRPC port; the HTTP port over HTTP/2 PINGs this often, and turns on TCP keepalive for HTTP/1.1).',
    why: 'Below common load balancer and NAT idle timeouts (60 s and more), so idle review streams are not silently reaped, and dead peers are found in under a minute.',
  }),
  spec({
    key: 'keepaliveTimeoutMs',
    type: 'int',
    default: 10_000,
    description: 'Close the connection when a PING is not answered within this time (both ports).',
    why: 'Generous for slow links, short enough to free a dead peer quickly.',
  }),
  spec({
    key: 'maxConnectionAgeMs',
    type: 'int',
    default: 1_800_000,
    description: 'Send GOAWAY to a connection this old, so clients reconnect (and rebalance).',
    why: '30 minutes: new instances get traffic as connections recycle; streams already open are not ended (see the grace).',
  }),
  spec({
    key: 'maxConnectionAgeGraceMs',
    type: 'int',
    default: 0,
    description: 'After GOAWAY, force-close the connection after this long (0: never).',
    why: 'A live review must not be cut by connection recycling: by default open streams run on; set it to force rebalancing (clients resume with nothing lost).',
  }),
  spec({
    key: 'maxConnectionIdleMs',
    type: 'int',
    default: 300_000,
    description: 'Close a connection that has had no call for this long.',
    why: 'Frees connections of clients that left without closing them.',
  }),
  spec({
    key: 'maxConcurrentStreams',
    type: 'int',
    default: 100,
    description: 'HTTP/2 concurrent streams per connection.',
    why: 'The common gRPC server default; one editor needs a few.',
  }),
  spec({
    key: 'maxMessageBytes',
    type: 'int',
    default: 1_048_576,
    description: 'Largest message accepted (RESOURCE_EXHAUSTED above it); snapshots are chunked below it.',
    why: '1 MiB holds any reasonable edit or comment; larger messages are abuse or bugs.',
  }),
  spec({
    key: 'maxLineChars',
    type: 'int',
    default: DEFAULT_CONTENT_LIMITS.maxLineChars,
    description: 'Longest line an edit or an opened file may make (LINE_TOO_LONG above it).',
    why: 'Seed clients receive the changed line with every keystroke: a 5.9 MB line made every later keystroke a message too large to send. 32 Ki characters holds any code line.',
  }),
  spec({
    key: 'maxFileChars',
    type: 'int',
    default: DEFAULT_CONTENT_LIMITS.maxFileChars,
    description: 'Largest file, in characters (FILE_TOO_LARGE above it).',
    why: 'Far above reviewable source files; bounds the memory and the catch-up of one file.',
  }),
  spec({
    key: 'maxSessionChars',
    type: 'int',
    default: DEFAULT_CONTENT_LIMITS.maxSessionChars,
    description: 'All files of a session together, in characters (SESSION_TOO_LARGE above it).',
    why: 'Bounds what one session holds in memory and sends to a joiner.',
  }),
  spec({
    key: 'maxFilesPerSession',
    type: 'int',
    default: DEFAULT_CONTENT_LIMITS.maxFiles,
    description: 'Files per session (TOO_MANY_FILES above it).',
    why: 'A large pull request has hundreds of files.',
  }),
  spec({
    key: 'maxCommentsPerSession',
    type: 'int',
    default: DEFAULT_CONTENT_LIMITS.maxComments,
    description: 'Comments per session, replies included (TOO_MANY_COMMENTS above it).',
    why: 'Far above any review; 100 MB of comments made a session unreadable.',
  }),
  spec({
    key: 'maxCommentChars',
    type: 'int',
    default: DEFAULT_CONTENT_LIMITS.maxCommentChars,
    description: 'All comment texts of a session together, in characters (TOO_MANY_COMMENTS above it).',
    why: 'Bounds the memory and the reads of one session whatever the comments hold.',
  }),
  spec({
    key: 'maxRebaseWork',
    type: 'int',
    default: DEFAULT_CONTENT_LIMITS.maxRebaseWork,
    description:
      'Most work one message may cause to reach the current version: versions behind x characters (or op components) per version (VERSION_TOO_OLD above it).',
    why: 'One edit at the oldest version of a 900 KB file cost 640 ms of CPU; this bounds it to tens of milliseconds. A client that far behind resyncs.',
  }),
  spec({
    key: 'outboundQueueMessages',
    type: 'int',
    default: 2048,
    description:
      'Messages queued for one participant before it is cut off as a slow consumer; past a quarter of it, what the participant sends is not read until it catches up.',
    why: 'Seconds of a busy session; a client further behind resumes from the log faster than it drains a queue.',
  }),
  spec({
    key: 'outboundQueueBytes',
    type: 'int',
    default: 8_388_608,
    description: 'Bytes queued for one participant before it is cut off as a slow consumer.',
    why: '8 MiB bounds memory per participant even with large edits.',
  }),
  spec({
    key: 'maxInflight',
    type: 'int',
    default: 64,
    description: 'Unprocessed messages per stream before the server stops reading it.',
    why: 'Enough to batch commits; beyond it HTTP/2 flow control pushes back on the sender.',
  }),
  spec({
    key: 'joinTimeoutMs',
    type: 'int',
    default: 10_000,
    description: 'Time allowed between opening a session stream and its first (join) message.',
    why: 'Streams that never join hold resources for nothing.',
  }),
  spec({
    key: 'idleAfterMs',
    type: 'int',
    default: 60_000,
    description: 'A participant quiet for this long is shown IDLE.',
    why: 'A minute without typing, cursor moves or messages.',
  }),
  spec({
    key: 'maxParticipants',
    type: 'int',
    default: 100,
    description: 'Participants per session (RESOURCE_EXHAUSTED with QuotaFailure above it).',
    why: 'Far above a review team; bounds fan-out cost per event.',
  }),
  spec({
    key: 'historyVersions',
    type: 'int',
    default: 1000,
    description: 'Versions of history kept per file to transform edits made against older versions.',
    why: 'A client more than 1000 versions behind is better served by a fresh snapshot.',
  }),
  spec({
    key: 'presenceBatchMs',
    type: 'int',
    default: 250,
    description: 'Presence changes within this window after one was sent go out together (0: each at once).',
    why: 'A burst of joins (a restart, a session starting) costs a few roster updates per peer, not one message per join per peer; a lone change still goes out at once.',
  }),
  spec({
    key: 'snapshotEvery',
    type: 'int',
    default: 500,
    description: 'Store a session snapshot every this many events.',
    why: 'Bounds replay on load at a small storage cost.',
  }),
  spec({
    key: 'evictAfterMs',
    type: 'int',
    default: 60_000,
    description: 'Drop a session from memory after it has had no participants for this long.',
    why: 'Memory follows active sessions, not every session ever seen; reloading is cheap.',
  }),
  spec({
    key: 'authSecretFile',
    type: 'string',
    default: '',
    description: 'File with the HS256 secret that signs bearer tokens (JWT). Enables authentication.',
    why: 'Off until configured: development mode, allowed on loopback only.',
  }),
  spec({
    key: 'authPublicKeyFile',
    type: 'string',
    default: '',
    description:
      'PEM public key (RSA, P-256 or Ed25519) that verifies bearer tokens. Enables authentication.',
    why: 'For tokens issued by an identity provider that keeps the private key.',
  }),
  spec({
    key: 'authJwksFile',
    type: 'string',
    default: '',
    description:
      'JWKS file with the keys that verify bearer tokens (selected by kid). Enables authentication.',
    why: 'For key rotation: publish the next key before signing with it.',
  }),
  spec({
    key: 'authIssuer',
    type: 'string',
    default: 'livereview',
    description: 'Required `iss` of tokens.',
    why: 'Tokens minted for another service are refused.',
  }),
  spec({
    key: 'authAudience',
    type: 'string',
    default: 'livereview',
    description: 'Required `aud` of tokens.',
    why: 'Tokens minted for another audience are refused.',
  }),
  spec({
    key: 'authDenylistFile',
    type: 'string',
    default: '',
    description:
      'JSON file {"tokens": [jti…], "users": [sub…]} of revocations, re-read every --auth-recheck-ms.',
    why: 'Revocation without waiting for tokens to expire.',
  }),
  spec({
    key: 'authRecheckMs',
    type: 'int',
    default: 10_000,
    description: 'How often live streams are re-checked against the denylist and the session grant.',
    why: 'Bounds how long a revoked token or a removed role keeps a live stream: 10 s.',
  }),
  spec({
    key: 'authRefreshAheadMs',
    type: 'int',
    default: 60_000,
    description: 'Ask a stream for a fresh token this long before its token expires.',
    why: 'A minute leaves a client time to fetch a token; without one the stream ends UNAUTHENTICATED at expiry.',
  }),
  spec({
    key: 'tlsCertFile',
    type: 'string',
    default: '',
    description:
      'PEM certificate chain: serve gRPC, the HTTP port (HTTP/2 and HTTP/1.1) and metrics over TLS.',
    why: 'Plaintext until configured.',
  }),
  spec({
    key: 'tlsKeyFile',
    type: 'string',
    default: '',
    description: 'PEM private key of --tls-cert-file.',
    why: 'Required with --tls-cert-file.',
  }),
  spec({
    key: 'tlsClientCaFile',
    type: 'string',
    default: '',
    description: 'PEM CA: require client certificates signed by it (mTLS).',
    why: 'Off: most deployments authenticate users with tokens, services with mTLS.',
  }),
  spec({
    key: 'insecure',
    type: 'bool',
    default: false,
    description: 'Allow serving without authentication on a non-loopback address.',
    why: 'Without it the development mode refuses to expose itself.',
  }),
  spec({
    key: 'rateUserPerSecond',
    type: 'int',
    default: 100,
    description: 'Messages per second per user (0: no limit).',
    why: 'Ten times fast typing with cursor moves.',
  }),
  spec({
    key: 'rateUserBurst',
    type: 'int',
    default: 200,
    description: 'Burst allowance per user.',
    why: 'A paste or a reconnect resend.',
  }),
  spec({
    key: 'rateSessionPerSecond',
    type: 'int',
    default: 1000,
    description: 'Messages per second per session (0: no limit).',
    why: 'A busy session of ten; bounds fan-out work per session.',
  }),
  spec({
    key: 'rateSessionBurst',
    type: 'int',
    default: 2000,
    description: 'Burst allowance per session.',
    why: 'Everyone resuming at once.',
  }),
  spec({
    key: 'maxSessions',
    type: 'int',
    default: 10_000,
    description: 'Sessions held in memory per process (RESOURCE_EXHAUSTED beyond; idle ones are evicted).',
    why: 'Bounds memory; a larger fleet adds instances.',
  }),
  spec({
    key: 'maxStreamDurationMs',
    type: 'int',
    default: 86_400_000,
    description: 'A session stream ends (RESOURCE_EXHAUSTED, resumable) after this long (0: never).',
    why: 'A day: no stream outlives deploys and credential rotations forever; clients resume.',
  }),
  spec({
    key: 'shutdownGraceMs',
    type: 'int',
    default: 10_000,
    description: 'On SIGTERM/SIGINT, time allowed to drain before connections are closed.',
    why: 'Within the usual 30 s orchestrator termination grace, with room to spare.',
  }),
  spec({
    key: 'gcHelperThreads',
    type: 'string',
    default: 'auto',
    description:
      'auto, on or off: whether V8 marks, sweeps and scavenges on helper threads; auto turns them off when the process can use one CPU (`livereview serve` only).',
    why: 'On one CPU the helper threads preempt the event loop: typing p99 11–18 ms without them, 24–39 ms with them (docs/benchmarks.md, 2026-12-05).',
  }),
] as const;

type Option = (typeof OPTIONS)[number];
export type ServerConfig = {
  -readonly [O in Option as O['key']]: O['type'] extends 'int'
    ? number
    : O['type'] extends 'bool'
      ? boolean
      : string;
};

export const flagOf = (key: string) => '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
export const envOf = (key: string) => 'LIVEREVIEW_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

export function defaultConfig(): ServerConfig {
  return Object.fromEntries(OPTIONS.map((o) => [o.key, o.default])) as ServerConfig;
}

function coerce(
  key: string,
  type: 'string' | 'int' | 'bool',
  value: unknown,
  source: string,
): string | number | boolean {
  if (type === 'bool') {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string' && /^(1|true|yes|on)$/i.test(value)) return true;
    if (typeof value === 'string' && /^(0|false|no|off)$/i.test(value)) return false;
    throw new Error(`${source}: ${key} must be true or false, got ${JSON.stringify(value)}`);
  }
  if (type === 'string') {
    if (typeof value !== 'string') throw new Error(`${source}: ${key} must be a string`);
    return value;
  }
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^-?\d+$/.test(value.trim())
        ? Number(value)
        : NaN;
  if (!Number.isSafeInteger(n))
    throw new Error(`${source}: ${key} must be an integer, got ${JSON.stringify(value)}`);
  return n;
}

/** Resolves the configuration from defaults, a config file, the environment and flags. */
export function resolveConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
  configFile?: string,
): ServerConfig {
  const config: Record<string, unknown> = { ...defaultConfig() };
  if (configFile) {
    const file = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(file)) {
      const o = OPTIONS.find((x) => x.key === k);
      if (!o) throw new Error(`${configFile}: unknown option ${JSON.stringify(k)}`);
      config[k] = coerce(k, o.type, v, configFile);
    }
  }
  for (const o of OPTIONS) {
    const fromEnv = env[envOf(o.key)];
    if (fromEnv !== undefined && fromEnv !== '') config[o.key] = coerce(o.key, o.type, fromEnv, envOf(o.key));
    if (flags[o.key] !== undefined) config[o.key] = coerce(o.key, o.type, flags[o.key], flagOf(o.key));
  }
  const c = config as ServerConfig;
  if (!['full', 'normal'].includes(c.sqliteSynchronous))
    throw new Error('sqliteSynchronous must be full or normal');
  if (!['on', 'off'].includes(c.groupCommit)) throw new Error('groupCommit must be on or off');
  if (!Number.isInteger(c.checkpointNice) || c.checkpointNice < 0 || c.checkpointNice > 19)
    throw new Error('checkpointNice must be an integer from 0 to 19');
  if (!['auto', 'on', 'off'].includes(c.gcHelperThreads))
    throw new Error('gcHelperThreads must be auto, on or off');
  if (Boolean(c.tlsCertFile) !== Boolean(c.tlsKeyFile))
    throw new Error('--tls-cert-file and --tls-key-file go together');
  if (c.tlsClientCaFile && !c.tlsCertFile) throw new Error('--tls-client-ca-file needs --tls-cert-file');
  for (const o of OPTIONS) {
    if (o.type === 'int' && (c[o.key] as number) < -1) throw new Error(`${o.key} must not be negative`);
  }
  return c;
}
