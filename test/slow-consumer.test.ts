// A participant that stops reading is cut off at its queue bound with a resumable status, while
// everyone else in its session receives everything. A participant that keeps sending while it
// does not keep up with what it is sent is slowed down instead (its stream is not read until it
// catches up): when everyone types faster than the server delivers, nobody is cut off.
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

describe('participants that send faster than they read', () => {
  let server: TestServer;
  before(async () => {
    // A queue bound of 400 and 8 unprocessed messages per stream: a stream stops being read at 100
    // queued (a quarter of the bound). What is still on its way after both streams stop being read
    // cannot reach the bound: per stream 8 in the engine, grpc-js's buffer of 16 decoded messages
    // and a 16 KB DATA frame's worth (16 comments), both ways, and the acks of its own. (With a
    // bound of 50 that sum could reach it: the test failed one run in two on a slow machine.) The
    // 1,500 comments each is sent would still overflow the bound without the pause.
    server = await startTestServer({ outboundQueueMessages: 8 * BOUND, maxInflight: 8 });
  });
  after(async () => {
    await server.shutdown(500);
  });

  const congestionPauses = async () => {
    const text = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`).then((r) => r.text());
    return Number(/^livereview_congestion_pauses_total (\d+)/m.exec(text)?.[1] ?? 0);
  };

  it('are slowed down, not cut off, and everything reaches everyone once they read', async () => {
    const PER_WRITER = EVENTS;
    const channels = [0, 1].map(() => ourClient(server.address, { 'grpc.use_local_subchannel_pool': 1 }));
    await unaryCall(channels[0]!.openReview.bind(channels[0]), {
      sessionId: 'both-slow',
      userId: 'author',
      clientMessageId: '',
      files: [{ path: 'a.txt', text: 'x\n' }],
    });
    const writers = channels.map((c, i) => joinSession(c, 'both-slow', `w${i}`));
    for (const w of writers) await w.got.waitFor(isCase('welcome'), 'welcome');
    const text = 'y'.repeat(1000);
    writers.forEach((w, i) => {
      w.call.pause(); // neither reads what the other sends
      for (let n = 0; n < PER_WRITER; n++) {
        w.call.write(
          SessionMessage.fromPartial({
            clientMessageId: `w${i}-${n}`,
            payload: { $case: 'comment', value: { filePath: 'a.txt', lineNumber: 1, text } },
          }),
        );
      }
    });
    // Without the pause their queues would reach the bound: each is sent 1,500 comments of 1 KB
    // while reading nothing (the slow reader above is cut off with fewer).
    const deadline = Date.now() + 60_000;
    while ((await congestionPauses()) < 2) {
      assert.ok(Date.now() < deadline, 'both streams were paused for congestion');
      await new Promise((r) => setTimeout(r, 50));
    }

    for (const w of writers) w.call.resume();
    for (const [i, w] of writers.entries()) {
      const peer = `w${1 - i}-`;
      const isPeerComment = (m: SessionMessage) => isCase('comment')(m) && m.clientMessageId.startsWith(peer);
      // Each writer's messages are committed in the order it sent them: its last one comes last.
      await w.got.waitFor(
        (m) => isPeerComment(m) && m.clientMessageId === `${peer}${PER_WRITER - 1}`,
        `the other writer's last comment at w${i}`,
        60_000,
      );
      await w.got.waitFor(
        (m) => isCase('ack')(m) && m.payload.value.clientMessageId === `w${i}-${PER_WRITER - 1}`,
        `w${i}'s last ack`,
      );
      const comments = w.got.messages.filter(isPeerComment).map((m) => m.clientMessageId);
      assert.deepEqual(
        comments,
        Array.from({ length: PER_WRITER }, (_, n) => `${peer}${n}`),
        'every comment of the other writer, in order, once',
      );
      const acks = w.got.messages.filter(isCase('ack')).map((m) => m.payload.value.clientMessageId);
      assert.equal(new Set(acks).size, PER_WRITER, 'an ack for each of its own, once');
      assert.equal(w.got.ended, undefined, `w${i}'s stream is still open`);
    }
    const metrics = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /livereview_slow_consumers_cut_off_total 0\b/);
    for (const w of writers) w.call.end();
    for (const c of channels) c.close();
  });
});
