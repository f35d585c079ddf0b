// What only the Redis bus has to get right: Redis going away and coming back, connections that
// die without a word, strangers publishing on its channels, and where its channels live. Outages
// use a private redis-server or a proxy; the shared server is never stopped or flushed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RedisBus } from '../src/bus/redis/redis-bus.js';
import { Inbox, reconnects, settled } from './bus-conformance.js';
import { ChaosProxy } from './helpers/chaos-proxy.js';
import { freePort } from './helpers/child-server.js';
import { PrivateRedis, adminClient, connectBus, sharedRedisUrl, testPrefix } from './helpers/redis.js';

const closeAll = (...buses: Array<RedisBus | undefined>) => Promise.all(buses.map((bus) => bus?.close()));

describe('Redis bus', () => {
  it('comes back by itself after Redis restarts: refuses to publish while it is down, restores subscriptions, says so, publishes again', async () => {
    const server = new PrivateRedis(await freePort());
    await server.start();
    const errors: Error[] = [];
    const options = {
      prefix: testPrefix('restart'),
      maxReconnectDelayMs: 200,
      onError: (e: Error) => errors.push(e),
    };
    let a: RedisBus | undefined;
    let b: RedisBus | undefined;
    try {
      a = await connectBus(server.url, options);
      b = await connectBus(server.url, options);
      const [atA, atB, atBLater] = [new Inbox(), new Inbox(), new Inbox()];
      await a.subscribe('review', atA.handler);
      await b.subscribe('review', atB.handler);
      const many = new Inbox();
      for (let i = 0; i < 300; i++) await b.subscribe(`session-${i}`, many.handler);
      await a.publish('review', 'before');
      await Promise.all([atA.until(1), atB.until(1)]);
      const [reconnectsA, reconnectsB] = [reconnects(a), reconnects(b)];
      const back = Promise.all([reconnectsA.next(), reconnectsB.next()]);

      await server.kill();
      // Both answered while Redis is still down: nothing waits for it to return.
      await assert.rejects(settled(a.publish('review', 'while down'), 'publish'), {
        name: 'BusUnavailableError',
      });
      await assert.rejects(settled(b.subscribe('later', atBLater.handler), 'subscribe'), {
        name: 'BusUnavailableError',
      });

      await server.start();
      await back;
      await a.publish('review', 'after');
      await a.publish('later', 'made while down');
      assert.deepEqual(await atA.until(2), ['before', 'after']);
      assert.deepEqual(await atB.until(2), ['before', 'after']);
      assert.deepEqual(await atBLater.until(1), ['made while down']);
      for (const i of [0, 150, 299]) await a.publish(`session-${i}`, `to ${i}`);
      assert.deepEqual(await many.until(3), ['to 0', 'to 150', 'to 299']);
      assert.deepEqual([reconnectsA.count(), reconnectsB.count()], [1, 1]);
      // One report per instance for the outage, not one per reconnect attempt.
      assert.deepEqual(
        errors.map((e) => [e.name, /^Redis connection lost/.test(e.message)]),
        [
          ['BusUnavailableError', true],
          ['BusUnavailableError', true],
        ],
      );
    } finally {
      await closeAll(a, b);
      await server.kill();
    }
  });

  it('closes without waiting for a Redis that is down', async () => {
    const server = new PrivateRedis(await freePort());
    await server.start();
    const bus = await connectBus(server.url, { prefix: testPrefix('close-down'), onError: () => undefined });
    try {
      await bus.subscribe('review', () => undefined);
      await server.kill();
      await assert.rejects(settled(bus.publish('review', 'x'), 'publish'), { name: 'BusUnavailableError' });
    } finally {
      await settled(bus.close(), 'close');
      await server.kill();
    }
    await assert.rejects(bus.publish('review', 'x'), { name: 'BusClosedError' });
  });

  it('notices a connection that died without a word and replaces it', async () => {
    const { port } = new URL(sharedRedisUrl);
    const proxy = new ChaosProxy(Number(port || 6379));
    const proxyPort = await proxy.listen();
    const url = new URL(sharedRedisUrl);
    url.port = String(proxyPort);
    const prefix = testPrefix('silent');
    let bus: RedisBus | undefined;
    let witness: RedisBus | undefined;
    try {
      bus = await connectBus(url.toString(), {
        prefix,
        heartbeatMs: 100,
        commandTimeoutMs: 300,
        maxReconnectDelayMs: 100,
        onError: () => undefined,
      });
      witness = await connectBus(sharedRedisUrl, { prefix });
      const inbox = new Inbox();
      await bus.subscribe('review', inbox.handler);
      const back = reconnects(bus).next();
      // Bytes stop flowing both ways, no FIN, no RST: only a missed heartbeat shows it.
      proxy.stallAll(600_000);
      await back;
      await witness.publish('review', 'after');
      assert.deepEqual(await inbox.until(1), ['after']);
    } finally {
      await closeAll(bus, witness);
      await proxy.close();
    }
  });

  it('drops a payload above its limit that someone else published on its channel, and says so', async () => {
    const prefix = testPrefix('hostile');
    const errors: Error[] = [];
    const admin = await adminClient();
    const bus = await connectBus(sharedRedisUrl, {
      prefix,
      maxPayloadBytes: 1024,
      onError: (e) => errors.push(e),
    });
    try {
      const inbox = new Inbox();
      await bus.subscribe('review', inbox.handler);
      await admin.publish(`${prefix}review`, 'x'.repeat(1025));
      await admin.publish(`${prefix}review`, 'fits');
      assert.deepEqual(await inbox.until(1), ['fits']);
      assert.deepEqual(
        errors.map((e) => [e.name, e.message]),
        [['PayloadTooLargeError', 'bus payload on topic "review" is 1025 bytes, above the limit of 1024']],
      );
    } finally {
      await bus.close();
      admin.disconnect();
    }
  });

  it('separates deployments by prefix, not by database number', async () => {
    const [prefix, other] = [testPrefix('db'), testPrefix('db')];
    const withDb = (db: number) => `${sharedRedisUrl.replace(/\/\d*$/, '')}/${db}`;
    const buses: RedisBus[] = [];
    try {
      const inDb3 = await connectBus(withDb(3), { prefix });
      const inDb5 = await connectBus(withDb(5), { prefix });
      const otherPrefix = await connectBus(withDb(3), { prefix: other });
      buses.push(inDb3, inDb5, otherPrefix);
      const [at5, atOther] = [new Inbox(), new Inbox()];
      await inDb5.subscribe('review', at5.handler);
      await otherPrefix.subscribe('review', atOther.handler);
      await inDb3.publish('review', 'across databases');
      assert.deepEqual(await at5.until(1), ['across databases']);
      // Published after the first was acknowledged, so Redis routed the first one before it.
      await otherPrefix.publish('review', 'own prefix');
      assert.deepEqual(await atOther.until(1), ['own prefix']);
    } finally {
      await closeAll(...buses);
    }
  });

  it('fails to connect with a message naming the server, without its password', async () => {
    const port = await freePort();
    await assert.rejects(RedisBus.connect(`redis://:s3cret@127.0.0.1:${port}/2`), (error: Error) => {
      assert.equal(error.name, 'BusUnavailableError');
      assert.match(error.message, new RegExp(`^cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/2: `));
      assert.doesNotMatch(error.message, /s3cret/);
      return true;
    });
    await assert.rejects(RedisBus.connect('http://127.0.0.1:6379'), TypeError);
    await assert.rejects(RedisBus.connect('127.0.0.1:6379'), TypeError);
  });
});
