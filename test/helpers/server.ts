// A real LiveReview server on a loopback port for tests.
import { Writable } from 'node:stream';
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
    data: ':memory:',
    logLevel: 'debug',
    shutdownGraceMs: 2000,
    ...overrides,
  };
  const server = await startServer(config, { ...options, logDestination: sink });
  return Object.assign(server, { address: `127.0.0.1:${server.port}`, logs });
}
