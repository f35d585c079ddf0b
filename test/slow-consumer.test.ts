// A participant that stops reading is cut off at its queue bound with a resumable status, while
// everyone else in its session receives everything.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { isCase, joinSession, ourClient, unaryCall } from './helpers/clients.js';
import { decodeDetails } from './helpers/status-details.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const BOUND = 50;
const EVENTS = 1500;

describe('a slow consumer', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ outboundQueueMessages: BOUND, logLevel: 'info' });
  });
  after(async () => {
    await server.shutdown(500);
  });

  it('is cut off with UNAVAILABLE + RetryInfo at its bound; the others receive every event', async () => {
    const client = ourClient(server.address);
    const slowClient = ourClient(server.address, { 'grpc.use_local_subchannel_pool': 1 });
    await unaryCall(client.openReview.bind(client), {
      sessionId: 'slow',
      userId: 'author',
      clientMessageId: '',
      files: [{ path: 'a.txt', text: 'x\n' }],
    });
    const writer = joinSession(client, 'slow', 'writer');
    const fast = joinSession(client, 'slow', 'fast');
    const slow = joinSession(slowClient, 'slow', 'slow');
    for (const p of [writer, fast, slow]) await p.got.waitFor(isCase('welcome'), 'welcome');
    slow.call.pause(); // stops reading: HTTP/2 flow control stalls the server's writes to it

    const text = 'y'.repeat(1000);
    for (let i = 0; i < EVENTS; i++) {
      writer.call.write(
        SessionMessage.fromPartial({
          clientMessageId: `m${i}`,
          payload: { $case: 'comment', value: { filePath: 'a.txt', lineNumber: 1, text } },
        }),
      );
    }
    await fast.got.waitFor((m) => m.sequence === EVENTS + 1, 'the last event at the fast reader', 60_000);
    const seqs = fast.got.messages.filter(isCase('comment')).map((m) => m.sequence);
    assert.deepEqual(
      seqs,
      Array.from({ length: EVENTS }, (_, i) => i + 2),
      'every event, in order, once',
    );

    slow.call.resume();
    const ended = await slow.got.waitForEnd('the slow stream to be cut off', 30_000);
    assert.equal(ended.code, grpc.status.UNAVAILABLE);
    const details = decodeDetails(ended.metadata);
    assert.equal(details?.errorInfo?.reason, 'SLOW_CONSUMER');
    assert.equal(details?.errorInfo?.metadata.queuedMessages, String(BOUND), 'cut off exactly at the bound');
    assert.ok(details?.retryInfo?.retryDelay, 'RetryInfo says when to resume');
    const received = slow.got.messages.filter(isCase('comment')).length;
    assert.ok(received < EVENTS, `the slow reader got ${received} of ${EVENTS} before the cut-off`);

    const metrics = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /livereview_slow_consumers_cut_off_total 1\b/);

    // Others carry on in the same session after the cut-off.
    writer.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'after',
        payload: { $case: 'comment', value: { filePath: 'a.txt', lineNumber: 1, text: 'after' } },
      }),
    );
    await fast.got.waitFor(
      (m) => isCase('comment')(m) && m.payload.value.text === 'after',
      'a comment after the cut-off',
    );
    writer.call.end();
    fast.call.end();
    client.close();
    slowClient.close();
  });
});
