// Base versions the server cannot serve get the documented in-stream FAILED_PRECONDITION, and the
// session goes on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { isCase, joinSession, openReview, ourClient, unaryCall } from './helpers/clients.js';
import { decodeStatus } from './helpers/status-details.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const insert = (version: number, text: string, id: string) =>
  SessionMessage.fromPartial({
    clientMessageId: id,
    payload: {
      $case: 'edit',
      value: { filePath: 'f', version, operations: [{ kind: { $case: 'insert', value: text } }] },
    },
  });

describe('stale and future base versions', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn', historyVersions: 5 });
  });
  after(async () => {
    await server.shutdown(500);
  });

  it('refuses a base version older than the retained history, and one from the future', async () => {
    const client = ourClient(server.address);
    await openReview(client, 'v', [{ path: 'f', text: '' }]);
    const a = joinSession(client, 'v', 'a');
    await a.got.waitFor(isCase('welcome'), 'welcome');
    for (let v = 0; v < 12; v++) a.call.write(insert(v, 'x', `e${v}`));
    await a.got.waitFor((m) => isCase('ack')(m) && m.payload.value.version === 12, 'version 12');

    a.call.write(insert(1, 'old', 'too-old'));
    const old = await a.got.waitFor(
      (m) => isCase('error')(m) && m.payload.value.clientMessageId === 'too-old',
      'too old',
    );
    const oldStatus = decodeStatus(isCase('error')(old) ? old.payload.value.status! : (undefined as never));
    assert.equal(oldStatus.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(oldStatus.errorInfo?.reason, 'VERSION_TOO_OLD');

    a.call.write(insert(99, 'future', 'future'));
    const future = await a.got.waitFor(
      (m) => isCase('error')(m) && m.payload.value.clientMessageId === 'future',
      'future',
    );
    const futureStatus = decodeStatus(
      isCase('error')(future) ? future.payload.value.status! : (undefined as never),
    );
    assert.equal(futureStatus.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(futureStatus.errorInfo?.reason, 'VERSION_AHEAD');

    // Within the retained history an edit is transformed and lands; the session goes on.
    a.call.write(insert(9, 'ok', 'recent'));
    const ack = await a.got.waitFor(
      (m) => isCase('ack')(m) && m.payload.value.clientMessageId === 'recent',
      'recent ack',
    );
    assert.equal(isCase('ack')(ack) && ack.payload.value.version, 13);
    const s = await unaryCall(client.getSession.bind(client), { sessionId: 'v' });
    // Every insert was at offset 0; the incoming one goes first at a tie.
    assert.equal(s.files[0]!.text, 'ok' + 'x'.repeat(12));
    a.call.end();
    client.close();
  });
});
