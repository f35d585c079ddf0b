// A real LiveReview server on a loopback port for tests.
import { Writable } from 'node:stream';
import { after, before } from 'node:test';
import type { CodeReviewServiceClient } from '../../src/gen/codereview/v1/codereview.js';
import { ourClient } from './clients.js';
import { defaultConfig, type ServerConfig } from '../../src/server/config.js';
import { startServer, type RunningServer, type StartOptions } from '../../src/server/server.js';

export interface TestServer extends RunningServer {
  address: string;
  /** Log lines written so far (JSON objects). */
  logs: Record<string, unknown>[];
}

export async function startTestServer(
  overrides: Partial<ServerConfig> = {},
  options: Omit<StartOptions, 'logDestination'> = {},
): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      cb();
    },
  });
  const config: ServerConfig = {
    ...defaultConfig(),
    port: 0,
    metricsPort: 0,
    // The HTTP edge is off unless a test asks for it (httpPort: 0).
    httpPort: -1,
    data: ':memory:',
    // Load-style tests send far faster than people type; the security test sets limits itself.
    rateUserPerSecond: 0,
    rateSessionPerSecond: 0,
    logLevel: 'debug',
    shutdownGraceMs: 2000,
    ...overrides,
  };
  const server = await startServer(config, { ...options, logDestination: sink });
  return Object.assign(server, { address: `127.0.0.1:${server.port}`, logs });
}

/** Registers before/after hooks that run a server and one client for the enclosing suite. */
export function serverFixture(overrides: Partial<ServerConfig> = {}) {
  let server: TestServer | undefined;
  let client: CodeReviewServiceClient | undefined;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn', ...overrides });
    client = ourClient(server.address);
  });
  after(async () => {
    client?.close();
    await server?.shutdown(500);
  });
  return {
    get server(): TestServer {
      return server!;
    },
    get client(): CodeReviewServiceClient {
      return client!;
    },
  };
}
