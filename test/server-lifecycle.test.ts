// What an operator sees at the edges of a server's life: a busy port named with the option that
// moves it, and /healthz answering 503 until shutdown is complete.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { defaultConfig } from '../src/server/config.js';
import { startServer } from '../src/server/server.js';
import { bin, freePort } from './helpers/child-server.js';
import { isCase, joinSession, ourClient } from './helpers/clients.js';
import { startTestServer } from './helpers/server.js';

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

/** GET /healthz: the status code, or the connection error's code. */
function healthz(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A store whose close waits until the test lets it finish. */
class GatedStore extends MemoryStore {
  closing: Promise<void>;
  private closeCalled!: () => void;
  private gate: Promise<void>;
  release!: () => void;
  constructor() {
    super();
    this.closing = new Promise((r) => (this.closeCalled = r));
    this.gate = new Promise((r) => (this.release = r));
  }
  override async close(): Promise<void> {
    this.closeCalled();
    await this.gate;
    return super.close();
  }
}

describe('server lifecycle', () => {
  it('says the metrics port is busy and how to change or disable it, and leaves nothing listening', async () => {
    const busy = await occupiedPort();
    try {
      const grpcPort = await freePort();
      const cli = spawnSync(
        process.execPath,
        [
          bin,
          'serve',
          '--port',
          String(grpcPort),
          '--metrics-port',
          String(busy.port),
          '--http-port',
          '-1',
          '--data',
          ':memory:',
        ],
        { encoding: 'utf8', timeout: 20_000 },
      );
      assert.equal(cli.status, 1, cli.stderr);
      assert.match(cli.stderr, new RegExp(`metrics port .*127\\.0\\.0\\.1:${busy.port} is already in use`));
      assert.match(cli.stderr, /--metrics-port <port>/);
      assert.match(cli.stderr, /--metrics-port -1/);

      const embedded = await startServer({
        ...defaultConfig(),
        port: grpcPort,
        metricsPort: busy.port,
        data: ':memory:',
        logLevel: 'silent',
      }).then(
        () => assert.fail('the server started on a busy metrics port'),
        (err: Error) => err,
      );
      assert.match(embedded.message, /metrics port/);
      assert.equal(await canConnect(grpcPort), false, 'the gRPC port was not left listening');
    } finally {
      busy.server.close();
    }
  });

  it('says the gRPC port is busy and how to change it', async () => {
    const busy = await occupiedPort();
    try {
      const err = await startTestServer({ port: busy.port, metricsPort: -1 }).then(
        () => assert.fail('the server started on a busy port'),
        (e: Error) => e,
      );
      assert.match(err.message, new RegExp(`gRPC port 127\\.0\\.0\\.1:${busy.port} is already in use`));
      assert.match(err.message, /--port <port>/);
    } finally {
      busy.server.close();
    }
  });

  it('answers /healthz 503 from the start of shutdown until everything else is closed', async () => {
    const store = new GatedStore();
    const server = await startTestServer({ logLevel: 'warn' }, { store });
    const client = ourClient(server.address);
    const s = joinSession(client, 'drain', 'ann');
    await s.got.waitFor(isCase('welcome'), 'welcome');
    assert.equal(await healthz(server.metricsPort), 200);

    const done = server.shutdown(2000);
    assert.equal(await healthz(server.metricsPort), 503, 'draining as soon as shutdown starts');
    const ended = await s.got.waitForEnd('the stream told to resume elsewhere');
    assert.equal(ended.code, 14);
    await store.closing; // the gRPC drain is over; the store is closing
    assert.equal(await healthz(server.metricsPort), 503, 'still draining while the store closes');
    store.release();
    await done;
    assert.equal(await healthz(server.metricsPort), 'ECONNREFUSED', 'closed last');
    client.close();
  });
});
