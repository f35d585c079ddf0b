// Server limits a user sees: a stream's maximum duration, the number of sessions a server holds,
// and a resume from before what the SQLite log still retains.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { isCase, joinSession, openReview, ourClient, unaryCall } from './helpers/clients.js';
import { serverFixture, startTestServer } from './helpers/server.js';
import { decodeDetails } from './helpers/status-details.js';

describe('stream duration limit', () => {
  const fx = serverFixture({ logLevel: 'warn', maxStreamDurationMs: 300 });

  it('ends a stream at its maximum duration with RESOURCE_EXHAUSTED, QuotaFailure and RetryInfo, and it resumes', async () => {
    await openReview(fx.client, 'long', [{ path: 'f', text: 'x\n' }]);
    const first = joinSession(fx.client, 'long', 'alice', { clientId: 'alice' });
    const welcome = await first.got.waitFor(isCase('welcome'), 'welcome');
    const ended = await first.got.waitForEnd('the stream to reach its maximum duration', 5000);
    assert.equal(ended.code, grpc.status.RESOURCE_EXHAUSTED);
    const details = decodeDetails(ended.metadata);
    assert.equal(details?.errorInfo?.reason, 'STREAM_DURATION_EXCEEDED');
    assert.match(details?.quotaFailure?.violations[0]?.description ?? '', /300 ms per stream/);
    assert.ok(details?.retryInfo, 'RetryInfo says when to come back');

    const again = joinSession(fx.client, 'long', 'alice', {
      clientId: 'alice',
      resumeAfter: welcome.payload.value.headSequence,
    });
    const resumed = await again.got.waitFor(isCase('welcome'), 'welcome on resume');
    assert.equal(resumed.payload.value.sync, 2, 'SYNC_MODE_RESUME');
    again.call.cancel();
  });
});

describe('session limit per server', () => {
  const fx = serverFixture({ logLevel: 'warn', maxSessions: 2 });

  it('refuses a session beyond --max-sessions with TOO_MANY_SESSIONS and QuotaFailure; the others keep working', async () => {
    for (const id of ['one', 'two']) {
      await openReview(fx.client, id, [{ path: 'f', text: 'x\n' }]);
    }
    const refused = await unaryCall(fx.client.openReview.bind(fx.client), {
      sessionId: 'three',
      userId: 'a',
      clientMessageId: 'o',
      files: [{ path: 'f', text: 'x\n' }],
    }).then(
      () => assert.fail('a third session was accepted'),
      (err: grpc.ServiceError) => err,
    );
    assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    const details = decodeDetails(refused.metadata);
    assert.equal(details?.errorInfo?.reason, 'TOO_MANY_SESSIONS');
    assert.match(details?.quotaFailure?.violations[0]?.description ?? '', /at most 2 sessions/);
    assert.ok(details?.retryInfo);

    const c = joinSession(fx.client, 'one', 'bob');
    await c.got.waitFor(isCase('welcome'), 'welcome in a held session');
    c.call.end();
  });
});

describe('resume from before the retained log (SQLite, and :memory:, whose log is bounded too)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-retain-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const data of [dir, ':memory:'])
    it(`${data === dir ? 'SQLite' : ':memory:'}: sends a snapshot of the current text, saying why, when the resume position was pruned`, async () => {
      const server = await startTestServer({
        logLevel: 'warn',
        data,
        snapshotEvery: 10,
        retainEvents: 5,
      });
      const client = ourClient(server.address);
      try {
        await openReview(client, 'pruned', [{ path: 'f', text: '' }]);
        const writer = joinSession(client, 'pruned', 'alice', { clientId: 'alice' });
        await writer.got.waitFor(isCase('welcome'), 'welcome');
        let version = 0;
        for (let i = 0; i < 40; i++) {
          writer.call.write(
            SessionMessage.fromPartial({
              clientMessageId: `e${i}`,
              payload: {
                $case: 'edit',
                value: { filePath: 'f', version, operations: [{ kind: { $case: 'insert', value: 'x' } }] },
              },
            }),
          );
          const ack = await writer.got.waitFor(
            (m) => isCase('ack')(m) && m.payload.value.clientMessageId === `e${i}`,
            `ack e${i}`,
          );
          version = (ack as SessionMessage & { payload: { $case: 'ack' } }).payload.value.version;
        }
        writer.call.end();

        const late = joinSession(client, 'pruned', 'bob', { clientId: 'bob', resumeAfter: 2 });
        const welcome = await late.got.waitFor(isCase('welcome'), 'welcome');
        assert.equal(welcome.payload.value.sync, 1, 'SYNC_MODE_SNAPSHOT');
        assert.match(welcome.payload.value.syncReason, /no longer retained/);
        const snapshot = await late.got.waitFor(isCase('snapshot'), 'snapshot');
        assert.equal(snapshot.payload.value.files.find((f) => f.path === 'f')?.text, 'x'.repeat(40));
        late.call.end();
      } finally {
        client.close();
        await server.shutdown(500);
      }
    });
});
