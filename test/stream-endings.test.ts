// Every session stream ends with a status, also in the races the fuzz test found: a message over
// the size limit arriving while the server writes to the stream, and a join sent together with its
// half-close while the token is being verified.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { mintToken } from '../src/security/tokens.js';
import { Collector, isCase, joinSession, openReview, ourClient, unaryCall } from './helpers/clients.js';
import { startTestServer } from './helpers/server.js';
import { decodeDetails } from './helpers/status-details.js';

describe('stream endings', () => {
  it('ends a stream RESOURCE_EXHAUSTED when a message over the limit arrives while the server writes to it', async () => {
    const server = await startTestServer({ logLevel: 'warn', maxMessageBytes: 64 * 1024 });
    const client = ourClient(server.address);
    let commenting = true;
    let commenter: Promise<unknown> = Promise.resolve();
    try {
      await openReview(client, 'busy', [{ path: 'a.ts', text: 'hello\n' }]);
      // Four writers keep rewriting one 30 KB comment, so the server always has data queued for
      // every participant when the oversized message arrives (and the session stays small).
      const comment = (id: string, action: number, text: string) =>
        unaryCall(client.submit.bind(client), {
          message: SessionMessage.fromPartial({
            sessionId: 'busy',
            userId: 'w',
            clientMessageId: id,
            payload: {
              $case: 'comment',
              value: { commentId: 'big', action, filePath: 'a.ts', lineNumber: 1, text },
            },
          }),
        });
      await comment('create', 1, 'start');
      commenter = Promise.all(
        [0, 1, 2, 3].map(async (w) => {
          for (let i = 0; commenting; i++) await comment(`w${w}-${i}`, 3, String(i % 10).repeat(30_000));
        }),
      );
      for (let round = 0; round < 10; round++) {
        const s = joinSession(client, 'busy', `u${round}`, { deadline: Date.now() + 10_000 });
        await s.got.waitFor(isCase('comment'), 'a broadcast');
        s.call.write(
          SessionMessage.fromPartial({
            clientMessageId: 'big',
            payload: {
              $case: 'comment',
              value: { filePath: 'a.ts', lineNumber: 1, text: 'y'.repeat(100_000) },
            },
          }),
        );
        const ended = await s.got.waitForEnd(`round ${round}: the oversized stream to end`, 15_000);
        assert.equal(ended.code, grpc.status.RESOURCE_EXHAUSTED, `round ${round}: ${ended.details}`);
      }
    } finally {
      commenting = false;
      await commenter;
      client.close();
      await server.shutdown(500);
    }
  });

  it('with tokens, answers a join sent together with its half-close: welcome, then OK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-endings-'));
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
      const md = () => {
        const m = new grpc.Metadata();
        m.set('authorization', `Bearer ${token}`);
        return m;
      };
      await new Promise<void>((resolve, reject) =>
        client.openReview(
          { sessionId: 'one-shot', userId: '', clientMessageId: 'o', files: [{ path: 'f', text: 'x\n' }] },
          md(),
          (e) => (e ? reject(e) : resolve()),
        ),
      );
      for (let i = 0; i < 10; i++) {
        const call = client.collaborativeSession(md(), { deadline: Date.now() + 10_000 });
        const got = new Collector<SessionMessage>(call);
        call.write(
          SessionMessage.fromPartial({
            sessionId: 'one-shot',
            payload: { $case: 'join', value: { clientId: `c${i}` } },
          }),
        );
        call.end();
        const ended = await got.waitForEnd(`stream ${i} to end`, 15_000);
        assert.equal(
          ended.code,
          grpc.status.OK,
          `stream ${i}: ${ended.details} ${JSON.stringify(decodeDetails(ended.metadata))}`,
        );
        assert.ok(got.messages.some(isCase('welcome')), `stream ${i} got its welcome`);
      }
    } finally {
      client.close();
      await server.shutdown(500);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
