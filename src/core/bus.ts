// The bus between instances: topic-based publish/subscribe of opaque payloads. Implementations:
// src/bus/local (one process; the reference, also used to run several engines in one process) and
// src/bus/redis (Redis pub/sub). All pass the conformance suite in test/bus-conformance.ts.
//
// A bus is a fast path, not a source of truth: it may drop, and after a reconnect it may have
// missed anything published meanwhile. Everything durable is in the Store with a sequence number,
// so whoever uses the bus detects gaps and repairs them from the Store; ephemeral traffic
// (presence, cursors) is simply re-announced. What the bus does promise:
// - a payload published on a topic reaches every current subscriber of that topic, on every
//   instance connected to the same bus, including the publishing instance's own subscription
//   (echo filtering is the caller's job: payloads carry their origin instance);
// - payloads from one publisher on one topic arrive in the order they were published;
// - nothing published on a topic reaches a handler of another topic.
export type BusHandler = (payload: string) => void;

export interface Bus {
  /** Publishes a payload. Resolves once handed to the bus (not once delivered); rejects when the
   * bus is unreachable, which callers treat as a drop. */
  publish(topic: string, payload: string): Promise<void>;
  /** Subscribes `handler` to a topic (one handler per topic per bus instance; subscribing again
   * replaces it). Resolves once the subscription is active: what is published afterwards arrives. */
  subscribe(topic: string, handler: BusHandler): Promise<void>;
  /** Stops delivery of a topic to this bus instance. */
  unsubscribe(topic: string): Promise<void>;
  /** Called after the connection to the bus was lost and re-established (subscriptions are
   * restored first): what was published meanwhile is lost, so callers re-announce and re-check. */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}
