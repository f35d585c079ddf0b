// The Bus conformance suite against every adapter: the in-process hub.
import type { Bus } from '../src/core/bus.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../src/bus/bus-errors.js';
import { LocalBus, LocalHub } from '../src/bus/local/local-bus.js';
import { busConformance, type BusCluster } from './bus-conformance.js';

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
