// One conformance suite for the Bus port, run against every adapter (local, Redis): what cluster
// mode relies on, nothing about how an adapter does it. Nothing here waits a fixed time: a test
// publishes a marker after what must not arrive, and per-publisher order says when it would have.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bus } from '../src/core/bus.js';

export interface BusInstanceOptions {
  onError?: (error: Error) => void;
}

/** One bus (a fresh hub, or a fresh prefix on a Redis server) that instances join. */
export interface BusCluster {
  /** Connects one more instance to this cluster's bus. */
  join(options?: BusInstanceOptions): Promise<Bus>;
  /** Connections the cluster's instances hold open on the bus's server right now. */
  openConnections(): Promise<number>;
  /** Connections one instance holds. */
  connectionsPerInstance: number;
  maxPayloadBytes: number;
  /** Cuts one instance off (its connections drop, new ones fail) until restore(). */
  cut(bus: Bus): Promise<void>;
  restore(bus: Bus): Promise<void>;
  /** Releases what the cluster set up for testing; every instance joined is closed too. */
  close(): Promise<void>;
}

/** Collects what one handler receives; `until` waits for a count (bounded, so a lost message
 * fails the test with what did arrive instead of hanging the run). */
export class Inbox {
  readonly received: string[] = [];
  private waiter: { count: number; resolve: () => void } | undefined;

  readonly handler = (payload: string): void => {
    this.received.push(payload);
    if (this.waiter && this.received.length >= this.waiter.count) this.waiter.resolve();
  };

  async until(count: number, what = 'messages'): Promise<string[]> {
    if (this.received.length < count) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          this.waiter = { count, resolve };
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `expected ${count} ${what}, got ${this.received.length}: ${preview(this.received)}`,
                ),
              ),
            20_000,
          );
        });
      } finally {
        clearTimeout(timer);
        this.waiter = undefined;
      }
    }
    return this.received;
  }
}

const preview = (payloads: string[]) =>
  JSON.stringify(payloads.slice(-5).map((p) => (p.length > 40 ? `${p.slice(0, 40)}... (${p.length})` : p)));

/** The promise, or a failure saying it never settled (a bus waiting for a server that only comes
 * back once the test moves on would otherwise hang the run). */
export async function settled<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} neither resolved nor rejected`)), 20_000);
  });
  try {
    return await Promise.race([promise, never]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves on the next call of a bus's onReconnect listeners; counts every call. */
export function reconnects(bus: Bus): { count: () => number; next: () => Promise<void> } {
  let count = 0;
  let wake: (() => void) | undefined;
  bus.onReconnect(() => {
    count++;
    wake?.();
  });
  return {
    count: () => count,
    next: () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('onReconnect did not fire')), 30_000);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      }),
  };
}

let unique = 0;
const topicName = (label: string) => `${label}-${++unique}`;

/** A string of exactly `bytes` UTF-8 bytes mixing 1- to 4-byte characters. */
function payloadOfBytes(bytes: number): string {
  const unit = 'aé€😀'; // 1 + 2 + 3 + 4 bytes
  return unit.repeat(Math.floor(bytes / 10)) + 'a'.repeat(bytes % 10);
}

export function busConformance(name: string, open: () => Promise<BusCluster>): void {
  describe(`Bus conformance: ${name}`, () => {
    async function withCluster(test: (cluster: BusCluster) => Promise<void>): Promise<void> {
      const cluster = await open();
      try {
        await test(cluster);
      } finally {
        await cluster.close();
      }
    }

    it("delivers a payload to every instance subscribed to its topic, the publisher's own included", () =>
      withCluster(async (cluster) => {
        const [a, b, c] = await Promise.all([cluster.join(), cluster.join(), cluster.join()]);
        const topic = topicName('review');
        const [atA, atB] = [new Inbox(), new Inbox()];
        await a.subscribe(topic, atA.handler);
        await b.subscribe(topic, atB.handler);
        const odd = 'héllo 😀 "quoted"\n\u0000\ttabs and \\ back';
        await a.publish(topic, odd);
        await c.publish(topic, 'from an instance that does not subscribe');
        for (const inbox of [atA, atB])
          assert.deepEqual(await inbox.until(2), [odd, 'from an instance that does not subscribe']);
      }));

    it('never runs a handler inside publish(), like a network', () =>
      withCluster(async (cluster) => {
        const a = await cluster.join();
        const topic = topicName('async');
        let publishing = false;
        const seenWhilePublishing: boolean[] = [];
        const inbox = new Inbox();
        await a.subscribe(topic, (payload) => {
          seenWhilePublishing.push(publishing);
          inbox.handler(payload);
        });
        publishing = true;
        const sent = a.publish(topic, 'echo');
        publishing = false;
        await sent;
        await inbox.until(1);
        assert.deepEqual(seenWhilePublishing, [false]);
      }));

    it('keeps topics apart, even ones whose names look alike', () =>
      withCluster(async (cluster) => {
        const [a, b] = await Promise.all([cluster.join(), cluster.join()]);
        const base = topicName('room');
        // A glob-subscribing adapter would mix "room*" with the others; a prefix-matching one
        // would mix "room" with "room:1".
        const topics = [base, `${base}:1`, `${base}*`, `${base}?`, base.toUpperCase(), `${base} ✓ [x]`];
        const inboxes = topics.map(() => new Inbox());
        for (const [i, topic] of topics.entries()) await b.subscribe(topic, inboxes[i]!.handler);
        for (const round of [1, 2]) {
          for (const topic of topics) await a.publish(topic, `${topic} #${round}`);
          for (const [i, topic] of topics.entries()) {
            const expected = [`${topic} #1`, `${topic} #2`].slice(0, round);
            assert.deepEqual(await inboxes[i]!.until(round, `messages on ${topic}`), expected);
          }
        }
      }));

    it('stops delivering a topic after unsubscribe; a new subscription gets only what comes after it', () =>
      withCluster(async (cluster) => {
        const [publisher, b, witness] = await Promise.all([cluster.join(), cluster.join(), cluster.join()]);
        const topic = topicName('unsub');
        const [before, after, seen] = [new Inbox(), new Inbox(), new Inbox()];
        await b.subscribe(topic, before.handler);
        await witness.subscribe(topic, seen.handler);
        await publisher.publish(topic, 'one');
        await before.until(1);
        await b.unsubscribe(topic);
        await publisher.publish(topic, 'two');
        await seen.until(2);
        await b.subscribe(topic, after.handler);
        await publisher.publish(topic, 'three');
        // "two" was published before "three" by the same publisher: had it been delivered to b,
        // it would have arrived first.
        assert.deepEqual(await after.until(1), ['three']);
        assert.deepEqual(await seen.until(3), ['one', 'two', 'three']);
        assert.deepEqual(before.received, ['one']);
        await b.unsubscribe(topicName('never-subscribed'));
      }));

    it('replaces the handler when a topic is subscribed again, and delivers once', () =>
      withCluster(async (cluster) => {
        const [a, b] = await Promise.all([cluster.join(), cluster.join()]);
        const topic = topicName('resub');
        const [first, second] = [new Inbox(), new Inbox()];
        await b.subscribe(topic, first.handler);
        await b.subscribe(topic, second.handler);
        await a.publish(topic, 'x');
        await a.publish(topic, 'y');
        await second.until(2);
        await a.publish(topic, 'z');
        assert.deepEqual(await second.until(3), ['x', 'y', 'z']);
        assert.deepEqual(first.received, []);
      }));

    it("keeps each publisher's order through a burst of thousands of messages", () =>
      withCluster(async (cluster) => {
        const [a, b, c] = await Promise.all([cluster.join(), cluster.join(), cluster.join()]);
        const topic = topicName('burst');
        const perPublisher = 3000;
        const inboxes = [new Inbox(), new Inbox(), new Inbox()];
        for (const [i, bus] of [a, b, c].entries()) await bus.subscribe(topic, inboxes[i]!.handler);
        // Both publishers fire everything without waiting, interleaved.
        const sent: Array<Promise<void>> = [];
        for (let i = 0; i < perPublisher; i++) {
          sent.push(a.publish(topic, `a:${i}`), b.publish(topic, `b:${i}`));
        }
        await Promise.all(sent);
        const expected = (who: string) => Array.from({ length: perPublisher }, (_, i) => `${who}:${i}`);
        for (const inbox of inboxes) {
          const received = await inbox.until(2 * perPublisher);
          assert.deepEqual(
            received.filter((p) => p.startsWith('a:')),
            expected('a'),
          );
          assert.deepEqual(
            received.filter((p) => p.startsWith('b:')),
            expected('b'),
          );
        }
      }));

    it('carries payloads up to the size limit intact and refuses larger ones, saying why', () =>
      withCluster(async (cluster) => {
        const [a, b] = await Promise.all([cluster.join(), cluster.join()]);
        const topic = topicName('large');
        const inbox = new Inbox();
        await b.subscribe(topic, inbox.handler);
        const max = cluster.maxPayloadBytes;
        const largest = payloadOfBytes(max);
        assert.equal(Buffer.byteLength(largest), max);
        await a.publish(topic, largest);
        // Fewer UTF-16 units than the limit, more bytes: the limit is in bytes.
        const tooLarge = 'é'.repeat(max / 2 + 1);
        assert.ok(tooLarge.length < max);
        await assert.rejects(a.publish(topic, tooLarge), (error: Error) => {
          assert.equal(error.name, 'PayloadTooLargeError');
          assert.match(error.message, new RegExp(`${max + 2} bytes, above the limit of ${max}`));
          return true;
        });
        await a.publish(topic, 'after');
        const received = await inbox.until(2);
        assert.equal(received.length, 2);
        assert.ok(received[0] === largest, 'the largest payload arrives unchanged');
        assert.equal(received[1], 'after');
      }));

    it('accepts a publish on a topic nobody subscribes to', () =>
      withCluster(async (cluster) => {
        const a = await cluster.join();
        await a.publish(topicName('nobody'), 'into the void');
        await a.publish(topicName('nobody'), 'and again');
      }));

    it('stops delivery when an instance closes, refuses its further use, and releases its connections', () =>
      withCluster(async (cluster) => {
        assert.equal(await cluster.openConnections(), 0);
        const [a, b, witness] = await Promise.all([cluster.join(), cluster.join(), cluster.join()]);
        assert.equal(await cluster.openConnections(), 3 * cluster.connectionsPerInstance);
        const topic = topicName('close');
        const [atB, seen] = [new Inbox(), new Inbox()];
        await b.subscribe(topic, atB.handler);
        await witness.subscribe(topic, seen.handler);
        await b.close();
        assert.equal(await cluster.openConnections(), 2 * cluster.connectionsPerInstance);
        await a.publish(topic, 'after close');
        await a.publish(topic, 'marker');
        await seen.until(2);
        assert.deepEqual(atB.received, []);
        await assert.rejects(b.publish(topic, 'x'), { name: 'BusClosedError' });
        await assert.rejects(b.subscribe(topic, atB.handler), { name: 'BusClosedError' });
        await b.close();
        await Promise.all([a.close(), witness.close()]);
        assert.equal(await cluster.openConnections(), 0);
      }));

    it('reports a handler that throws and keeps delivering', () =>
      withCluster(async (cluster) => {
        const errors: Error[] = [];
        const a = await cluster.join();
        const b = await cluster.join({ onError: (error) => errors.push(error) });
        const topic = topicName('throws');
        const inbox = new Inbox();
        await b.subscribe(topic, (payload) => {
          if (payload === 'boom') throw new Error('handler failed on boom');
          inbox.handler(payload);
        });
        await a.publish(topic, 'boom');
        await a.publish(topic, 'after');
        assert.deepEqual(await inbox.until(1), ['after']);
        assert.deepEqual(
          errors.map((e) => e.message),
          ['handler failed on boom'],
        );
      }));

    it('refuses to publish while cut off, then restores its subscriptions and says so once it is back', () =>
      withCluster(async (cluster) => {
        const a = await cluster.join();
        // The lost connection is reported; this test is about what happens around it.
        const b = await cluster.join({ onError: () => undefined });
        const [before, during] = [topicName('before-cut'), topicName('during-cut')];
        const [atBefore, atDuring, atA] = [new Inbox(), new Inbox(), new Inbox()];
        await b.subscribe(before, atBefore.handler);
        await a.subscribe(before, atA.handler);
        const reconnected = reconnects(b);
        const back = reconnected.next();
        await cluster.cut(b);
        // Rejected while still cut off: a publish does not wait for the bus to come back.
        await assert.rejects(settled(b.publish(before, 'while cut'), 'publish'), {
          name: 'BusUnavailableError',
        });
        await assert.rejects(settled(b.subscribe(during, atDuring.handler), 'subscribe'), {
          name: 'BusUnavailableError',
        });
        await cluster.restore(b);
        await back;
        await a.publish(before, 'back 1');
        await a.publish(during, 'back 2');
        await b.publish(before, 'from b');
        assert.deepEqual(await atBefore.until(2), ['back 1', 'from b']);
        assert.deepEqual(await atDuring.until(1), ['back 2']);
        assert.deepEqual(await atA.until(2), ['back 1', 'from b']);
        assert.equal(reconnected.count(), 1);
      }));
  });
}
