// The SDK's browser transport (ConnectTransport: Subscribe + Submit over fetch) against the
// server's HTTP port, in each protocol it speaks: Connect binary, Connect JSON and gRPC-Web. Node's
// fetch stands in for a browser's (the web app's tests drive the same code in Chromium). A client
// on it and one on grpc-js edit and comment together; refusals and call failures arrive as
// LiveReviewCallError with the status code and the ErrorInfo reason.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SessionClient } from '../src/client/core/index.js';
import { LiveReviewCallError, Code } from '../src/client/core/status.js';
import { LiveReviewClient } from '../src/client/index.js';
import { ConnectTransport } from '../src/client/transport/connect.js';
import { waitUntil } from './helpers/browser.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const PROTOCOLS = ['connect', 'connect-json', 'grpc-web'] as const;

describe('ConnectTransport: the browser transport over the HTTP port', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ httpPort: 0, logLevel: 'warn' });
  });
  after(async () => {
    await server?.shutdown(500);
  });

  for (const protocol of PROTOCOLS) {
    it(`${protocol}: edits and comments converge with a grpc-js client; refusals carry their reason`, async () => {
      const sessionId = `web-transport-${protocol}`;
      const peer = new LiveReviewClient({ targets: [server.address], sessionId, userId: 'grace' });
      await peer.connect();
      await peer.openReview([{ path: 'a.txt', text: 'hello\n' }]);
      const web = new SessionClient({
        transport: new ConnectTransport({ baseUrl: `http://127.0.0.1:${server.httpPort}`, protocol }),
        sessionId,
        userId: 'wendy',
      });
      try {
        await web.connect();
        assert.equal(web.file('a.txt')?.text, 'hello\n');

        web.edit('a.txt', [5, ', world']);
        peer.edit('a.txt', ['> ']);
        await waitUntil(
          () => web.synced && peer.synced && web.file('a.txt')?.text === peer.file('a.txt')?.text,
          () => `convergence: ${JSON.stringify([web.file('a.txt')?.text, peer.file('a.txt')?.text])}`,
        );
        assert.equal(web.file('a.txt')?.text, '> hello, world\n');

        const ack = await web.comment('a.txt', 1, 'über 🚀');
        await waitUntil(
          () => peer.comments().some((c) => c.id === ack.commentId && c.text === 'über 🚀'),
          () => 'the comment at the grpc-js client',
        );

        // A Submit the server refuses: code and ErrorInfo reason, as over grpc-js.
        const refused = await web.reply('no-such-thread', 'hi').then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(refused instanceof LiveReviewCallError, String(refused));
        assert.equal(refused.code, Code.NOT_FOUND);
        assert.equal(refused.reason, 'COMMENT_NOT_FOUND');
        assert.equal(web.state, 'connected');

        // A unary call's failure too.
        const unary = await web.getSession({ deadlineMs: 5000 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.equal(unary, undefined, 'GetSession of a live session succeeds');
        const missing = await new SessionClient({
          transport: new ConnectTransport({ baseUrl: `http://127.0.0.1:${server.httpPort}`, protocol }),
          sessionId: `never-opened-${protocol}`,
          userId: 'wendy',
        })
          .getSession()
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        assert.ok(missing instanceof LiveReviewCallError, String(missing));
        assert.equal(missing.code, Code.NOT_FOUND);
        assert.equal(missing.reason, 'SESSION_NOT_FOUND');
      } finally {
        web.close();
        peer.close();
      }
    });
  }

  it('a server that cannot be reached is retried, not a failure', async () => {
    // A port that was just free: nothing listens on it.
    const probe = await startTestServer({ httpPort: 0, logLevel: 'warn' });
    const deadPort = probe.httpPort;
    await probe.shutdown(100);
    const web = new SessionClient({
      transport: new ConnectTransport({ baseUrl: `http://127.0.0.1:${deadPort}` }),
      sessionId: 'nowhere',
      userId: 'wendy',
      backoff: { baseDelayMs: 20, maxDelayMs: 50 },
    });
    const states: string[] = [];
    web.on('state', (s) => states.push(s));
    void web.connect().catch(() => undefined);
    try {
      await waitUntil(
        () => web.connectionAttempts >= 3,
        () => `three attempts, states ${states}`,
      );
      assert.ok(states.includes('reconnecting'));
      assert.ok(!states.includes('failed'), String(states));
    } finally {
      web.close();
    }
  });
});
