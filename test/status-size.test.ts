// A refusal that quotes what the client sent stays small: statuses travel as HTTP/2 trailers, and
// one quoting a 30,000-character value used to break the whole connection (every call on it hung).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage, type CodeReviewServiceClient } from '../src/gen/codereview/v1/codereview.js';
import { mintToken } from '../src/security/tokens.js';
import { isCase, joinSession, ourClient } from './helpers/clients.js';
import { decodeDetails, decodeStatus } from './helpers/status-details.js';
import { startTestServer } from './helpers/server.js';

const HUGE = 'é'.repeat(30_000);

function submit(client: CodeReviewServiceClient, md: grpc.Metadata, message: SessionMessage) {
  return new Promise<grpc.ServiceError | null>((resolve) =>
    client.submit({ message }, md, { deadline: Date.now() + 10_000 }, (err) => resolve(err)),
  );
}

function getSession(client: CodeReviewServiceClient, md: grpc.Metadata, sessionId: string) {
  return new Promise<grpc.ServiceError | null>((resolve) =>
    client.getSession(
      { sessionId, pageSize: 0, pageToken: '' },
      md,
      { deadline: Date.now() + 10_000 },
      (err) => resolve(err),
    ),
  );
}

/** Asserts the status is short and says what it is about. */
function assertBounded(err: grpc.ServiceError | null, code: number, reason: string): void {
  assert.equal(err?.code, code, err?.details.slice(0, 200));
  assert.ok(err.details.length <= 256, `a short message (${err.details.length} characters)`);
  const details = decodeDetails(err.metadata);
  assert.equal(details?.errorInfo?.reason, reason);
  const bytes = err.metadata.get('grpc-status-details-bin')[0] as Buffer;
  assert.ok(bytes.length <= 4096, `small details (${bytes.length} bytes)`);
}

describe('status size', () => {
  it('answers a Submit quoting a 30,000-character client id with a short status, and the connection goes on', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const client = ourClient(server.address);
    try {
      const md = new grpc.Metadata();
      const refused = await submit(
        client,
        md,
        SessionMessage.fromPartial({
          sessionId: 's',
          userId: 'u',
          clientId: HUGE,
          payload: { $case: 'cursor', value: { filePath: 'f', line: 1 } },
        }),
      );
      assertBounded(refused, grpc.status.INVALID_ARGUMENT, 'INVALID_MESSAGE'); // client ids are bounded
      assertBounded(await getSession(client, md, 'none'), grpc.status.NOT_FOUND, 'SESSION_NOT_FOUND');
    } finally {
      client.close();
      await server.shutdown(500);
    }
  });

  it('answers a call claiming a 30,000-character user id with a short status, in-stream too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-status-'));
    const secret = 'a-test-secret-that-is-long-enough-for-hs256-0123456789';
    writeFileSync(join(dir, 'secret'), secret);
    const server = await startTestServer({ logLevel: 'warn', authSecretFile: join(dir, 'secret') });
    const client = ourClient(server.address);
    try {
      const token = await mintToken({
        secret,
        userId: 'ann',
        sessions: { '*': 'author' },
        ttlSeconds: 600,
        issuer: 'livereview',
        audience: 'livereview',
      });
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      const refused = await submit(
        client,
        md,
        SessionMessage.fromPartial({
          sessionId: 's',
          userId: HUGE,
          payload: { $case: 'cursor', value: { filePath: 'f', line: 1 } },
        }),
      );
      assertBounded(refused, grpc.status.PERMISSION_DENIED, 'USER_MISMATCH');
      assertBounded(await getSession(client, md, 'none'), grpc.status.NOT_FOUND, 'SESSION_NOT_FOUND');

      const s = joinSession(client, 'echo', '', { metadata: md });
      await s.got.waitFor(isCase('welcome'), 'welcome');
      s.call.write(SessionMessage.fromPartial({ sessionId: HUGE.slice(0, 20_000), clientMessageId: 'm' }));
      const error = await s.got.waitFor(isCase('error'), 'the refusal in-stream');
      const status = error.payload.value.status!;
      assert.ok(status.message.length <= 256, `a short in-stream message (${status.message.length})`);
      assert.equal(decodeStatus(status).errorInfo?.reason, 'SESSION_MISMATCH');
      s.call.end();
      assert.equal((await s.got.waitForEnd()).code, grpc.status.OK);
    } finally {
      client.close();
      await server.shutdown(500);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
