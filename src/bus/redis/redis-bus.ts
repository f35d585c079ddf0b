// The Redis bus: Redis pub/sub through ioredis, one publishing connection and one in subscriber
// mode per instance (a subscribed connection can run nothing but (UN)SUBSCRIBE and PING).
//
// Redis pub/sub is fire-and-forget: a message reaches the connections subscribed when Redis
// processes the PUBLISH, in the order one connection published; nothing is stored, so whatever
// is published while a subscriber is disconnected is lost to it, and Redis cuts off a subscriber
// that falls too far behind (client-output-buffer-limit pubsub, 32 MB by default). Channels are
// global to the server, not per database: the prefix is what separates deployments sharing one.
//
// The ioredis settings are chosen so that nothing waits on a broken connection: commands are not
// queued while disconnected (enableOfflineQueue false) and are not resent after a reconnect
// (maxRetriesPerRequest 0, autoResendUnfulfilledCommands false), so publish() rejects at once
// during an outage and callers repair from the store instead of receiving stale payloads late.
// Subscriptions are restored by this class, not by ioredis's autoResubscribe, because ioredis
// says "ready" before its resubscription is confirmed and onReconnect must come after it.
import { Redis, type RedisOptions } from 'ioredis';
import type { Bus, BusHandler } from '../../core/bus.js';
import {
  BusClosedError,
  BusUnavailableError,
  DEFAULT_MAX_PAYLOAD_BYTES,
  PayloadTooLargeError,
  checkPayloadSize,
} from '../bus-errors.js';

export interface RedisBusOptions {
  /** Put before every topic to make the channel name (default 'livereview:bus:'). Deployments
   * and tests sharing one Redis use distinct prefixes; a database number does not separate
   * pub/sub channels. */
  prefix?: string;
  /** Largest payload in UTF-8 bytes, refused on publish and dropped on receipt (default
   * DEFAULT_MAX_PAYLOAD_BYTES): a huge message holds up every subscriber behind it. */
  maxPayloadBytes?: number;
  /** A command without a reply after this long fails (default 5000 ms), so a publish on a
   * connection that died silently rejects instead of hanging. */
  commandTimeoutMs?: number;
  /** Each connection is PINGed this often (default 5000 ms); one that misses its reply is
   * replaced. A subscriber connection only ever reads, so without this a connection that died
   * without a FIN or RST (a crashed host, a dropped NAT entry) would go unnoticed. */
  heartbeatMs?: number;
  /** Longest pause between reconnect attempts (default 2000 ms): attempts back off
   * exponentially from 50 ms to this, with jitter so a cluster does not reconnect in lockstep. */
  maxReconnectDelayMs?: number;
  /** Told about errors the bus survives: the connection lost (once per outage), a handler that
   * threw, an oversized payload received. Default: a process warning. */
  onError?: (error: Error) => void;
}

const DEFAULTS = {
  prefix: 'livereview:bus:',
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  commandTimeoutMs: 5000,
  heartbeatMs: 5000,
  maxReconnectDelayMs: 2000,
};

export class RedisBus implements Bus {
  private readonly handlers = new Map<string, BusHandler>();
  private readonly reconnectListeners: Array<() => void> = [];
  private readonly options: typeof DEFAULTS;
  private readonly onError: (error: Error) => void;
  private readonly heartbeats: NodeJS.Timeout;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private closed = false;
  /** Both connections were up once: a failed attempt from then on is an outage to report, not
   * a failed start (which connect() reports). */
  private started = false;
  /** A connection was lost since the bus was last whole: onReconnect is owed. */
  private interrupted = false;
  /** The outage was reported: once, not after every failed attempt. */
  private outageReported = false;
  /** The latest connection error, to say why in the outage report. */
  private lastError: Error | undefined;
  /** Connections with a heartbeat PING in flight (one at a time), or being replaced after one
   * went unanswered (until they close). */
  private readonly pinging = new Set<Redis>();
  /** The subscriber connection is up and holds every subscription in `handlers`. */
  private subscriptionsRestored = true;
  /** Bumped whenever the subscriber connection is lost, so a restore that finishes for a
   * connection that is already gone does not count. */
  private subscriberEpoch = 0;

  /** Connects both connections; rejects, leaving nothing running, if Redis cannot be reached.
   * `url` is redis://[user:password@]host:port[/db] (rediss:// for TLS). */
  static async connect(url: string, options: RedisBusOptions = {}): Promise<RedisBus> {
    const where = withoutCredentials(url);
    const bus = new RedisBus(url, options);
    try {
      await Promise.all([bus.pub.connect(), bus.sub.connect()]);
    } catch (error) {
      // ioredis rejects with "Connection is closed."; the reason came with its 'error' event.
      const why = bus.lastError ?? (error as Error);
      await bus.close();
      throw new BusUnavailableError(`cannot reach Redis at ${where}: ${why.message}`, { cause: why });
    }
    bus.started = true;
    return bus;
  }

  private constructor(url: string, options: RedisBusOptions) {
    this.options = { ...DEFAULTS, ...definedOnly(options) };
    this.onError = options.onError ?? ((error) => process.emitWarning(error));
    const name = (role: string) => `${this.options.prefix}${role}`.replace(/[^\x21-\x7e]/g, '_');
    const connection = (role: string): RedisOptions => ({
      lazyConnect: true,
      connectionName: name(role),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      commandTimeout: this.options.commandTimeoutMs,
      keepAlive: 30_000,
      retryStrategy: (attempt) =>
        Math.min(50 * 2 ** Math.min(attempt - 1, 16), this.options.maxReconnectDelayMs) +
        Math.floor(Math.random() * 50),
    });
    this.pub = new Redis(url, connection('pub'));
    this.sub = new Redis(url, connection('sub'));
    // ioredis emits 'error' for every failed attempt; without a listener it logs each one.
    for (const client of [this.pub, this.sub]) client.on('error', (error: Error) => (this.lastError = error));
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
    this.watch(this.pub, 'pub');
    this.watch(this.sub, 'sub');
    this.heartbeats = setInterval(() => this.ping(), this.options.heartbeatMs).unref();
  }

  async publish(topic: string, payload: string): Promise<void> {
    if (this.closed) throw new BusClosedError();
    checkPayloadSize(topic, payload, this.options.maxPayloadBytes);
    try {
      await this.pub.publish(this.options.prefix + topic, payload);
    } catch (error) {
      throw this.unavailable('publish', error);
    }
  }

  async subscribe(topic: string, handler: BusHandler): Promise<void> {
    if (this.closed) throw new BusClosedError();
    // Recorded before the command: if it fails because Redis is down, the subscription is made
    // when the connection comes back, before onReconnect fires.
    this.handlers.set(topic, handler);
    try {
      await this.sub.subscribe(this.options.prefix + topic);
    } catch (error) {
      throw this.unavailable('subscribe', error);
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    // Delivery stops here: the handler is gone. If the command fails, the connection it was
    // for is gone too (or about to be), and its replacement is not subscribed to this topic.
    this.handlers.delete(topic);
    if (this.closed || this.sub.status !== 'ready') return;
    await this.sub.unsubscribe(this.options.prefix + topic).catch(() => undefined);
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeats);
    this.handlers.clear();
    await Promise.all([closeConnection(this.pub), closeConnection(this.sub)]);
  }

  /** Follows one connection: reports its loss, restores subscriptions, fires onReconnect. */
  private watch(client: Redis, role: 'pub' | 'sub'): void {
    client.on('close', () => {
      if (this.closed) return;
      this.interrupted = true;
      if (this.started && !this.outageReported) {
        this.outageReported = true;
        const why = this.lastError ? `: ${this.lastError.message}` : '';
        this.onError(
          new BusUnavailableError(`Redis connection lost (${role})${why}`, { cause: this.lastError }),
        );
      }
      if (role === 'sub') {
        this.subscriptionsRestored = false;
        this.subscriberEpoch++;
      }
    });
    client.on('ready', () => {
      if (this.closed) return;
      if (role === 'sub') void this.restoreSubscriptions();
      else this.settle();
    });
  }

  private async restoreSubscriptions(): Promise<void> {
    const epoch = this.subscriberEpoch;
    const channels = [...this.handlers.keys()].map((topic) => this.options.prefix + topic);
    try {
      if (channels.length > 0) await this.sub.subscribe(...channels);
    } catch {
      // The connection failed again; its next 'ready' retries.
      return;
    }
    if (epoch !== this.subscriberEpoch) return;
    this.subscriptionsRestored = true;
    this.settle();
  }

  /** Fires onReconnect once the bus is whole again after an outage. */
  private settle(): void {
    if (this.closed || !this.interrupted) return;
    if (this.pub.status !== 'ready' || this.sub.status !== 'ready' || !this.subscriptionsRestored) return;
    this.interrupted = false;
    this.outageReported = false;
    this.lastError = undefined;
    for (const listener of this.reconnectListeners) this.run(listener);
  }

  private receive(channel: Buffer, message: Buffer): void {
    if (this.closed) return;
    const name = channel.toString('utf8');
    if (!name.startsWith(this.options.prefix)) return;
    const topic = name.slice(this.options.prefix.length);
    const handler = this.handlers.get(topic);
    if (!handler) return;
    // Anyone who can reach Redis can publish here: a payload above the limit is not decoded.
    if (message.length > this.options.maxPayloadBytes) {
      this.onError(new PayloadTooLargeError(topic, message.length, this.options.maxPayloadBytes));
      return;
    }
    const payload = message.toString('utf8');
    // ioredis calls this from inside its reply parser: a throw here would break the connection.
    this.run(() => handler(payload));
  }

  private ping(): void {
    for (const client of [this.pub, this.sub])
      if (client.status === 'ready' && !this.pinging.has(client)) void this.heartbeat(client);
  }

  private async heartbeat(client: Redis): Promise<void> {
    this.pinging.add(client);
    try {
      await client.ping();
    } catch (error) {
      // Still "ready" after a failed PING: the connection died silently instead of closing.
      if (!this.closed && client.status === 'ready') {
        this.lastError = new Error(`no reply to a heartbeat (${(error as Error).message})`);
        client.once('close', () => this.pinging.delete(client));
        client.disconnect(true);
        return;
      }
    }
    this.pinging.delete(client);
  }

  private unavailable(what: string, error: unknown): Error {
    if (this.closed) return new BusClosedError();
    const message = error instanceof Error ? error.message : String(error);
    return new BusUnavailableError(`Redis bus ${what} failed: ${message}`, { cause: error });
  }

  private run(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** QUIT after the commands already sent (they complete), or drop the connection if Redis does
 * not answer; resolves once the connection is gone. */
async function closeConnection(client: Redis): Promise<void> {
  const open = ['connecting', 'connect', 'ready'].includes(client.status);
  if (!open) {
    // Between attempts there is no socket: stopping the next attempt is all there is to do.
    client.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
  else client.disconnect();
  await ended;
}

/** The URL without its credentials, for messages. */
function withoutCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`not a Redis URL: ${JSON.stringify(url)} (expected redis://host:port[/db])`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new TypeError(`not a Redis URL: ${parsed.protocol} (expected redis:// or rediss://)`);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
