// The in-process bus: the reference adapter of the Bus port. A LocalHub plays the server; each
// LocalBus connected to it is one instance, so several engines in one process form a cluster (in
// tests, or a single server that wants the cluster code path without Redis). It behaves like a
// network bus: delivery is asynchronous (a handler never runs inside publish()), in publish order
// per receiving instance, and an instance can be cut off and reconnected to test the layer above
// against drops.
import type { Bus, BusHandler } from '../../core/bus.js';
import {
  BusClosedError,
  BusUnavailableError,
  DEFAULT_MAX_PAYLOAD_BYTES,
  checkPayloadSize,
} from '../bus-errors.js';

export interface LocalBusOptions {
  /** Largest payload in UTF-8 bytes (default DEFAULT_MAX_PAYLOAD_BYTES): the same limit as the
   * Redis bus, so a payload that works in tests also works in a deployment. */
  maxPayloadBytes?: number;
  /** Told about errors the bus survives: a handler that threw. Default: a process warning. */
  onError?: (error: Error) => void;
}

/** The "server" the LocalBus instances of one cluster connect to. */
export class LocalHub {
  private readonly subscribers = new Map<string, Set<LocalBus>>();
  private readonly connected = new Set<LocalBus>();

  /** How many instances are connected (a closed or cut-off one is not). */
  get connectionCount(): number {
    return this.connected.size;
  }

  /** @internal */
  attach(bus: LocalBus): void {
    this.connected.add(bus);
  }

  /** @internal Forgets the instance and every subscription it had, as a server does with a
   * connection that went away. */
  detach(bus: LocalBus): void {
    this.connected.delete(bus);
    for (const [topic, buses] of this.subscribers) {
      buses.delete(bus);
      if (buses.size === 0) this.subscribers.delete(topic);
    }
  }

  /** @internal */
  addSubscriber(topic: string, bus: LocalBus): void {
    let buses = this.subscribers.get(topic);
    if (!buses) this.subscribers.set(topic, (buses = new Set()));
    buses.add(bus);
  }

  /** @internal */
  removeSubscriber(topic: string, bus: LocalBus): void {
    const buses = this.subscribers.get(topic);
    buses?.delete(bus);
    if (buses?.size === 0) this.subscribers.delete(topic);
  }

  /** @internal Queues the payload for every instance subscribed to the topic right now. */
  route(topic: string, payload: string): void {
    for (const bus of this.subscribers.get(topic) ?? []) bus.enqueue(topic, payload);
  }
}

type State = 'connected' | 'disconnected' | 'closed';

export class LocalBus implements Bus {
  private readonly handlers = new Map<string, BusHandler>();
  private readonly reconnectListeners: Array<() => void> = [];
  private readonly maxPayloadBytes: number;
  private readonly onError: (error: Error) => void;
  private state: State = 'connected';
  /** Delivered in arrival order; one queue per instance keeps every publisher's order. */
  private inbox: Array<[topic: string, payload: string]> = [];
  private drainScheduled = false;

  constructor(
    private readonly hub: LocalHub,
    options: LocalBusOptions = {},
  ) {
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.onError = options.onError ?? ((error) => process.emitWarning(error));
    hub.attach(this);
  }

  async publish(topic: string, payload: string): Promise<void> {
    this.checkConnected();
    checkPayloadSize(topic, payload, this.maxPayloadBytes);
    this.hub.route(topic, payload);
  }

  async subscribe(topic: string, handler: BusHandler): Promise<void> {
    if (this.state === 'closed') throw new BusClosedError();
    // Kept while cut off, like the Redis bus: reconnect() restores it.
    this.handlers.set(topic, handler);
    this.checkConnected();
    this.hub.addSubscriber(topic, this);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.handlers.delete(topic);
    this.hub.removeSubscriber(topic, this);
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    this.handlers.clear();
    this.inbox = [];
    this.hub.detach(this);
  }

  /** Simulates a lost connection: the hub forgets this instance's subscriptions, what was on its
   * way to it is dropped, publish() and subscribe() reject until reconnect(). */
  disconnect(): void {
    if (this.state !== 'connected') return;
    this.state = 'disconnected';
    this.inbox = [];
    this.hub.detach(this);
  }

  /** Ends a simulated outage: subscriptions are restored, then the onReconnect listeners run
   * (asynchronously, as after a real reconnect). */
  reconnect(): void {
    if (this.state !== 'disconnected') return;
    this.state = 'connected';
    this.hub.attach(this);
    for (const topic of this.handlers.keys()) this.hub.addSubscriber(topic, this);
    setImmediate(() => {
      if (this.state !== 'connected') return;
      for (const listener of this.reconnectListeners) this.run(listener);
    });
  }

  /** @internal Called by the hub for each payload routed to this instance. */
  enqueue(topic: string, payload: string): void {
    this.inbox.push([topic, payload]);
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.drainScheduled = false;
    // Only what had arrived when the drain began: a handler that publishes to its own topic is
    // served on a later turn, never inside this loop.
    const batch = this.inbox;
    this.inbox = [];
    for (const [topic, payload] of batch) {
      // Looked up at delivery: after unsubscribe() or close() nothing more reaches the handler.
      const handler = this.handlers.get(topic);
      if (handler && this.state === 'connected') this.run(() => handler(payload));
    }
  }

  private run(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private checkConnected(): void {
    if (this.state === 'closed') throw new BusClosedError();
    if (this.state === 'disconnected') throw new BusUnavailableError('the local bus is disconnected');
  }
}
