// Redis for tests: the shared server (never stopped or flushed: every test works under its own
// channel prefix) and private servers a test may kill and restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { RedisBus, type RedisBusOptions } from '../../src/bus/redis/redis-bus.js';

export const sharedRedisUrl = process.env.LIVEREVIEW_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const START_HINT =
  'start one with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no ' +
  '(or point LIVEREVIEW_TEST_REDIS_URL at another)';

let unique = 0;
/** A channel prefix no other test (in this or another process) uses. */
export const testPrefix = (label = 'bus') => `lr-test:${label}:${process.pid}:${Date.now()}:${++unique}:`;

/** RedisBus.connect, failing with how to start Redis when there is none. */
export async function connectBus(url: string, options: RedisBusOptions): Promise<RedisBus> {
  try {
    return await RedisBus.connect(url, options);
  } catch (error) {
    if ((error as Error).name === 'BusUnavailableError')
      throw new Error(`${(error as Error).message}; ${START_HINT}`, { cause: error });
    throw error;
  }
}

/** A plain client for looking at the server from outside (CLIENT LIST, raw PUBLISH). */
export async function adminClient(url = sharedRedisUrl): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let lastError: Error | undefined;
  client.on('error', (error: Error) => (lastError = error));
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    const why = lastError ?? (error as Error);
    throw new Error(`cannot reach Redis at ${url}: ${why.message}; ${START_HINT}`, { cause: why });
  }
  return client;
}

/** How many connections named with this prefix the server holds. */
export async function connectionsNamed(admin: Redis, prefix: string): Promise<number> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  const safe = prefix.replace(/[^\x21-\x7e]/g, '_');
  return list.split('\n').filter((line) => / name=(\S*)/.exec(line)?.[1]?.startsWith(safe) ?? false).length;
}

/** A redis-server of this test's own, on a port it chose, that it may kill and start again. */
export class PrivateRedis {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server and resolves once it accepts connections. */
  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          child.stdout?.off('data', onData);
          child.stdout?.resume();
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('error', (error) =>
        reject(new Error(`cannot start redis-server (is it installed?): ${error.message}`)),
      );
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.trim()}`)));
    });
  }

  /** Kills the server the hard way (no goodbye to its clients, like a crash) and waits for it. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}
