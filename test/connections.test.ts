// Connections that never speak: a flood of TCP connections that send nothing must not take the
// server's file descriptors from real clients. The server closes connections beyond
// --max-connections at once and those silent past --handshake-timeout-ms soon after.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CodeReviewServiceClient, SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { bin } from './helpers/child-server.js';
import { isCase, joinSession, ourClient, unaryCall } from './helpers/clients.js';
import { startTestServer } from './helpers/server.js';

/** `count` connections to the port that send nothing; `closed` resolves once the server has closed
 * every one of them (or rejects after `waitMs`, saying how many are still open). */
function silentConnections(port: number, count: number) {
  const sockets: Socket[] = [];
  let open = count;
  let onAllClosed: () => void = () => undefined;
  const allClosed = new Promise<void>((resolve) => (onAllClosed = resolve));
  for (let i = 0; i < count; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.resume(); // read, so that the server's FIN is seen
    s.once('close', () => {
      if (--open === 0) onAllClosed();
    });
    sockets.push(s);
  }
  return {
    get open() {
      return open;
    },
    closed(waitMs: number): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${open} of ${count} silent connections still open after ${waitMs} ms`)),
          waitMs,
        );
      });
      return Promise.race([allClosed, timeout]).finally(() => clearTimeout(timer));
    },
    destroy: () => sockets.forEach((s) => s.destroy()),
  };
}

/** A unary call that waits for a connection (instead of failing at the first refused one) until
 * its deadline. */
function patiently<Req, Res>(
  fn: (
    req: Req,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: Res) => void,
  ) => unknown,
  req: Req,
  deadlineMs: number,
): Promise<Res> {
  const md = new grpc.Metadata();
  md.setOptions({ waitForReady: true });
  return new Promise((resolve, reject) =>
    fn(req, md, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/** `livereview serve` in a child process whose open-file limit is `nofile` (prlimit). */
async function startLimitedServer(
  nofile: number,
  extra: string[],
): Promise<{ child: ChildProcess; port: number }> {
  const args = [`--nofile=${nofile}:${nofile}`, '--', process.execPath, bin, 'serve'];
  args.push(
    '--port',
    '0',
    '--metrics-port',
    '-1',
    '--http-port',
    '-1',
    '--data',
    ':memory:',
    '--log-level',
    'warn',
    ...extra,
  );
  const child = spawn('prlimit', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
      const m = /listening on [\d.]+:(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    child.once('error', (err) =>
      reject(new Error(`cannot run prlimit (util-linux) for this test: ${err.message}`)),
    );
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${stderr}`)));
  });
  return { child, port };
}

describe('connections that never speak', () => {
  it('a server at its open-file limit keeps serving real clients while 400 connections send nothing, and closes them', async () => {
    // 256 descriptors: by default at most 128 connections (the limit minus 128, at least half).
    const { child, port } = await startLimitedServer(256, ['--handshake-timeout-ms', '1000']);
    const address = `127.0.0.1:${port}`;
    const before = ourClient(address);
    let silent: ReturnType<typeof silentConnections> | undefined;
    let late: CodeReviewServiceClient | undefined;
    try {
      await unaryCall(
        before.openReview.bind(before),
        { sessionId: 'busy', userId: 'a', clientMessageId: 'o', files: [{ path: 'f', text: 'x\n' }] },
        { deadline: Date.now() + 10_000 },
      );
      silent = silentConnections(port, 400);
      // A client connected before the flood is served during it.
      const during = await unaryCall(
        before.getSession.bind(before),
        { sessionId: 'busy' },
        { deadline: Date.now() + 10_000 },
      );
      assert.equal(during.files[0]?.text, 'x\n');
      // A client arriving during the flood gets in once the silent connections are closed.
      late = ourClient(address);
      const fresh = await patiently(
        late.getSession.bind(late),
        { sessionId: 'busy', pageSize: 0, pageToken: '' },
        20_000,
      );
      assert.equal(fresh.headSequence, during.headSequence);
      await silent.closed(20_000);
    } finally {
      silent?.destroy();
      before.close();
      late?.close();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  describe('on a TLS port', () => {
    let certs: TestCerts;
    before(() => {
      certs = makeCerts();
    });
    after(() => certs.remove());

    it('closes connections that never start their TLS handshake, while TLS clients and their streams carry on', async () => {
      const server = await startTestServer({
        logLevel: 'warn',
        tlsCertFile: certs.file('server.crt'),
        tlsKeyFile: certs.file('server.key'),
        maxConnections: 40,
        handshakeTimeoutMs: 300,
      });
      const creds = () => grpc.credentials.createSsl(certs.pem('ca.crt'));
      const client = new CodeReviewServiceClient(server.address, creds());
      const silent = silentConnections(server.port, 150);
      let late: CodeReviewServiceClient | undefined;
      try {
        await patiently(
          client.openReview.bind(client),
          { sessionId: 'tls', userId: 'a', clientMessageId: 'o', files: [{ path: 'f', text: 'x\n' }] },
          10_000,
        );
        const stream = joinSession(client, 'tls', 'ann');
        await stream.got.waitFor(isCase('welcome'), 'welcome');
        await silent.closed(10_000);
        await new Promise((r) => setTimeout(r, 900)); // three handshake deadlines
        // Well past the handshake deadline, the TLS connection and its stream are still there.
        stream.call.write(
          SessionMessage.fromPartial({
            clientMessageId: 'c1',
            payload: { $case: 'comment', value: { filePath: 'f', lineNumber: 1, text: 'still here' } },
          }),
        );
        await stream.got.waitFor(isCase('ack'), 'the comment acknowledged on the same stream');
        assert.equal(stream.got.ended, undefined, 'the stream is still open');
        late = new CodeReviewServiceClient(server.address, creds());
        await patiently(late.getSession.bind(late), { sessionId: 'tls', pageSize: 0, pageToken: '' }, 10_000);
        stream.call.end();
        assert.equal((await stream.got.waitForEnd()).code, grpc.status.OK);
      } finally {
        silent.destroy();
        client.close();
        late?.close();
        await server.shutdown(500);
      }
    });
  });
});
