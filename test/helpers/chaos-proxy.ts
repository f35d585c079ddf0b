// A TCP proxy on loopback that the test controls: it forwards to a target and can drop, reset or
// stall every connection, refuse new ones, or do all of that at random (seeded).
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
}

export class ChaosProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private chaosTimer: NodeJS.Timeout | undefined;
  port = 0;
  faults = { drops: 0, resets: 0, stalls: 0 };

  constructor(private readonly targetPort: number) {}

  async listen(port = 0): Promise<number> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream };
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const close = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Closes every connection with a FIN. */
  dropAll(): void {
    this.faults.drops++;
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
  }

  /** Closes every connection with a TCP RST. */
  resetAll(): void {
    this.faults.resets++;
    for (const p of this.pairs) {
      p.client.resetAndDestroy();
      p.upstream.resetAndDestroy();
    }
  }

  /** Stops forwarding in both directions for `ms` (bytes wait, as on a congested link). */
  stallAll(ms: number): void {
    this.faults.stalls++;
    const stalled = [...this.pairs];
    for (const p of stalled) {
      p.client.pause();
      p.upstream.pause();
    }
    setTimeout(() => {
      for (const p of stalled) {
        p.client.resume();
        p.upstream.resume();
      }
    }, ms).unref();
  }

  /** Random faults every 50-250 ms, from a seed. */
  startChaos(seed: number): void {
    let state = seed >>> 0 || 1;
    const random = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 4294967296;
    };
    const tick = () => {
      const r = random();
      if (r < 0.35) this.dropAll();
      else if (r < 0.7) this.resetAll();
      else this.stallAll(50 + Math.floor(random() * 300));
      this.chaosTimer = setTimeout(tick, 50 + Math.floor(random() * 200));
    };
    this.chaosTimer = setTimeout(tick, 50);
  }

  stopChaos(): void {
    clearTimeout(this.chaosTimer);
  }

  /** Stops accepting and drops everything (the "server" is gone); listen(port) brings it back. */
  async close(): Promise<void> {
    this.stopChaos();
    const server = this.server;
    this.server = undefined;
    this.dropAll();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
