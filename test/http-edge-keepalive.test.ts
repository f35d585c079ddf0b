// A browser that vanishes without a word (a laptop closed, a network gone) leaves an idle Subscribe
// that writes nothing, so nothing fails on the server and its participant would stay in the
// roster. Over HTTP/2 the edge PINGs every connection and closes one whose PING goes unanswered,
// as the gRPC port does (src/transport/http/edge-server.ts); its participants leave.
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { encodeEnvelope } from '@connectrpc/connect/protocol';
import { LiveReviewClient } from '../src/client/index.js';
import { waitUntil } from './helpers/browser.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { ChaosProxy } from './helpers/chaos-proxy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('the HTTP edge over HTTP/2: a peer that stops answering', () => {
  let certs: TestCerts;
  let server: TestServer;
  let watcher: LiveReviewClient;
  let proxy: ChaosProxy;

  before(async () => {
    certs = makeCerts();
    server = await startTestServer({
      httpPort: 0,
      logLevel: 'warn',
      tlsCertFile: certs.file('server.crt'),
      tlsKeyFile: certs.file('server.key'),
      keepaliveTimeMs: 200,
      keepaliveTimeoutMs: 300,
    });
    watcher = new LiveReviewClient({
      targets: [server.address],
      sessionId: 'ghosts',
      userId: 'watcher',
      credentials: grpc.credentials.createSsl(certs.pem('ca.crt')),
    });
    await watcher.connect();
    await watcher.openReview([{ path: 'a.ts', text: 'x\n' }]);
    proxy = new ChaosProxy(server.httpPort);
    await proxy.listen();
  });
  after(async () => {
    watcher?.close();
    await proxy?.close();
    await server?.shutdown(500);
    certs?.remove();
  });

  it('closes the connection when its PINGs go unanswered, and its Subscribe leaves the roster', async () => {
    const session = connect(`https://127.0.0.1:${proxy.port}`, { ca: certs.pem('ca.crt') });
    session.on('error', () => undefined);
    const call = session.request({
      ':method': 'POST',
      ':path': '/codereview.v1.CodeReviewService/Subscribe',
      'content-type': 'application/connect+json',
      'connect-protocol-version': '1',
    });
    call.on('error', () => undefined);
    call.on('data', () => undefined);
    call.end(
      encodeEnvelope(
        0,
        Buffer.from(JSON.stringify({ sessionId: 'ghosts', userId: 'ghost', clientId: 'ghost-1' })),
      ),
    );
    const present = () => watcher.participants().some((p) => p.userId === 'ghost');
    await waitUntil(present, () => 'the Subscribe in the roster');
    // Still there after several PINGs answered.
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(present(), 'an answering peer stays');

    // The peer goes silent for longer than the test waits: only the PINGs can tell.
    proxy.stallAll(30_000);
    await waitUntil(
      () => !present(),
      () => 'the silent peer out of the roster',
      10_000,
    );
    session.destroy();
  });
});
