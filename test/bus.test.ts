// The Bus conformance suite against every adapter: the in-process hub, and Redis (the shared
// server, each test under its own prefix; each instance reaches it through a proxy the test can
// cut, so outages never touch the shared server).
import type { Bus } from '../src/core/bus.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../src/bus/bus-errors.js';
import { LocalBus, LocalHub } from '../src/bus/local/local-bus.js';
import type { RedisBus } from '../src/bus/redis/redis-bus.js';
import { busConformance, type BusCluster } from './bus-conformance.js';
import { ChaosProxy } from './helpers/chaos-proxy.js';
import { adminClient, connectBus, connectionsNamed, sharedRedisUrl, testPrefix } from './helpers/redis.js';

busConformance('local', async (): Promise<BusCluster> => {
  const hub = new LocalHub();
  const buses: LocalBus[] = [];
  const local = (bus: Bus) => bus as LocalBus;
  return {
    async join(options = {}) {
      const bus = new LocalBus(hub, options);
      buses.push(bus);
      return bus;
    },
    openConnections: async () => hub.connectionCount,
    connectionsPerInstance: 1,
    maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
    cut: async (bus) => local(bus).disconnect(),
    restore: async (bus) => local(bus).reconnect(),
    async close() {
      await Promise.all(buses.map((bus) => bus.close()));
    },
  };
});

busConformance('redis', async (): Promise<BusCluster> => {
  const prefix = testPrefix();
  const admin = await adminClient();
  const { port: redisPort } = new URL(sharedRedisUrl);
  const instances: Array<{ bus: RedisBus; proxy: ChaosProxy }> = [];
  const proxyOf = (bus: Bus) => instances.find((i) => i.bus === bus)!.proxy;
  return {
    async join(options = {}) {
      const proxy = new ChaosProxy(Number(redisPort || 6379));
      const port = await proxy.listen();
      const url = new URL(sharedRedisUrl);
      url.port = String(port);
      const bus = await connectBus(url.toString(), { prefix, ...options });
      instances.push({ bus, proxy });
      return bus;
    },
    openConnections: () => connectionsNamed(admin, prefix),
    connectionsPerInstance: 2,
    maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
    cut: (bus) => proxyOf(bus).close(),
    restore: async (bus) => {
      const proxy = proxyOf(bus);
      await proxy.listen(proxy.port);
    },
    async close() {
      await Promise.all(instances.map(({ bus }) => bus.close()));
      await Promise.all(instances.map(({ proxy }) => proxy.close()));
      admin.disconnect();
    },
  };
});
