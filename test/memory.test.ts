// Memory that follows what a session really holds (issue 16, items 1 and 11): a reader that stops
// reading while someone types in a multi-megabyte file costs at most its queue bound, and a file's
// history of deletes does not keep every version of the document alive. Measured as the heap that
// survives a full collection, with the server in this process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { isCase, joinSession, openReview, ourClient } from './helpers/clients.js';
import { heapAfterGc, MB } from './helpers/memory.js';
import { startTestServer } from './helpers/server.js';

const QUEUE_BYTES = 8 * MB;

function insert(id: string, version: number, at: number, text: string) {
  return SessionMessage.fromPartial({
    clientMessageId: id,
    payload: {
      $case: 'edit',
      value: {
        filePath: 'big.ts',
        version,
        operations: [{ kind: { $case: 'retain', value: at } }, { kind: { $case: 'insert', value: text } }],
      },
    },
  });
}

describe('memory', () => {
  it('a paused reader in a multi-MB file under typing costs at most its queue bound; it is cut off and resumes', async (t) => {
    const server = await startTestServer({
      logLevel: 'warn',
      outboundQueueBytes: QUEUE_BYTES,
      // Well under the 2,500 edits: a paused gRPC client's transport still takes in some of what
      // it is sent (on Node 24, ~500 of these messages before the server's writes wait), and the
      // rest must overflow the queue whatever that share is.
      outboundQueueMessages: 1024,
      maxMessageBytes: 4 * MB,
    });
    const client = ourClient(server.address);
    const paused = ourClient(server.address, { 'grpc.use_local_subchannel_pool': 1 });
    // Also when an assertion fails: a server left running keeps the test file's process alive.
    t.after(async () => {
      client.close();
      paused.close();
      await server.shutdown(500);
    });
    const line = '  const total = items.reduce((sum, item) => sum + item.price, 0);\n';
    const text = line.repeat(Math.ceil((2.7 * MB) / line.length));
    await openReview(client, 'mem', [{ path: 'big.ts', text }]);
    const author = joinSession(client, 'mem', 'author', { clientId: 'author' });
    // The reader asks for the changed lines' text with every edit (no ops_only), like a seed client.
    const reader = joinSession(paused, 'mem', 'reader', { clientId: 'reader', capabilities: ['ops'] });
    for (const p of [author, reader]) await p.got.waitFor(isCase('welcome'), 'welcome');
    const before = heapAfterGc();
    reader.call.pause();
    // Typing in the middle of the file: every version is a new 2.7 MB string. Before the fix each
    // queued edit kept its version alive (3.4 MB per queued message; the process died at ~1,200).
    const middle = Math.floor(text.length / 2);
    let peak = 0;
    for (let v = 0; v < 2500; v++) {
      author.call.write(insert(`k${v}`, v, middle + v, 'x'));
      if (v % 250 === 249) {
        await author.got.waitFor(
          (m) => isCase('ack')(m) && m.clientMessageId === `k${v}`,
          `ack ${v}`,
          30_000,
        );
        peak = Math.max(peak, heapAfterGc() - before);
      }
    }
    assert.ok(
      peak < QUEUE_BYTES + 64 * MB,
      `heap kept while the reader is paused: ${(peak / MB).toFixed(1)} MB (queue bound 8 MB + 64 MB allowance)`,
    );
    reader.call.resume(); // its status waits behind what it did not read
    const ended = await reader.got.waitForEnd('the paused reader cut off', 30_000);
    assert.equal(ended.code, 14, 'UNAVAILABLE: resume from the log');
    const last = Math.max(0, ...reader.got.messages.map((m) => m.sequence));
    const again = joinSession(paused, 'mem', 'reader', { clientId: 'reader', resumeAfter: last });
    await again.got.waitFor((m) => m.sequence === 2501, 'the resumed reader reaches the last edit', 60_000);
    author.call.end();
    again.call.end();
  });

  it("a file's history of deletes does not keep every version of the document alive", async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const client = ourClient(server.address);
    const words = 'alphaBetaGamma_deltaEpsilon\n'; // 28 characters, deleted one word at a time
    await openReview(client, 'hist', [{ path: 'big.ts', text: words.repeat(Math.ceil((256 * 1024) / 28)) }]);
    const a = joinSession(client, 'hist', 'a', { clientId: 'a' });
    await a.got.waitFor(isCase('welcome'), 'welcome');
    const before = heapAfterGc();
    for (let v = 0; v < 1000; v++) {
      a.call.write(
        SessionMessage.fromPartial({
          clientMessageId: `d${v}`,
          payload: {
            $case: 'edit',
            value: {
              filePath: 'big.ts',
              version: v,
              operations: [
                { kind: { $case: 'retain', value: 1 + ((v * 97) % 200_000) } },
                { kind: { $case: 'delete', value: 20 } },
              ],
            },
          },
        }),
      );
    }
    const last = await a.got.waitFor((m) => m.clientMessageId === 'd999', 'the last delete', 60_000);
    assert.ok(isCase('ack')(last), JSON.stringify(last));
    const kept = heapAfterGc() - before;
    // Before the fix: ~256 KB per delete in the history (285 MB after 1,000).
    assert.ok(kept < 24 * MB, `heap kept by 1,000 deletes in history: ${(kept / MB).toFixed(1)} MB`);
    a.call.end();
    client.close();
    await server.shutdown(500);
  });
});
