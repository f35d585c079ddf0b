// A token's `sessions` claim grants exactly the sessions it names, whatever the session id — also
// ids that are names of JavaScript object properties (constructor, __proto__, toString, ...).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CodeReviewServiceClient, SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { mintToken } from '../src/security/tokens.js';
import { Collector, isCase } from './helpers/clients.js';
import { decodeDetails, decodeStatus } from './helpers/status-details.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256-0123456789';
const PROPERTY_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

const mint = (user: string, sessions: Record<string, 'author' | 'reviewer' | 'viewer'>) =>
  mintToken({
    secret: SECRET,
    userId: user,
    sessions,
    ttlSeconds: 600,
    issuer: 'livereview',
    audience: 'livereview',
  });

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

function unary<Res>(
  fn: (
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, r: Res) => void,
  ) => unknown,
  md: grpc.Metadata,
): Promise<{ err: grpc.ServiceError | null; res?: Res }> {
  return new Promise((resolve) =>
    fn(md, { deadline: Date.now() + 10_000 }, (err, res) => resolve({ err, res })),
  );
}

describe('session grants and property-name session ids', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-grants-'));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, SECRET);
  let server: TestServer;
  let client: CodeReviewServiceClient;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn', authSecretFile: secretFile });
    client = new CodeReviewServiceClient(server.address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await server.shutdown(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a token granting only another session in sessions named constructor, __proto__, toString, ...', async () => {
    const md = bearer(await mint('mallory', { 'other-session': 'author' }));
    for (const sessionId of PROPERTY_NAMES) {
      for (const [method, call] of [
        [
          'GetSession',
          () => unary(client.getSession.bind(client, { sessionId, pageSize: 0, pageToken: '' }), md),
        ],
        [
          'ListComments',
          () =>
            unary(
              client.listComments.bind(client, {
                sessionId,
                filePath: '',
                includeResolved: true,
                pageSize: 0,
                pageToken: '',
              }),
              md,
            ),
        ],
        [
          'OpenReview',
          () =>
            unary(
              client.openReview.bind(client, {
                sessionId,
                userId: '',
                clientMessageId: 'o',
                files: [{ path: 'f', text: 'x\n' }],
              }),
              md,
            ),
        ],
        [
          'Submit',
          () =>
            unary(
              client.submit.bind(client, {
                message: SessionMessage.fromPartial({
                  sessionId,
                  clientMessageId: 's',
                  payload: { $case: 'comment', value: { filePath: 'f', lineNumber: 1, text: 'hi' } },
                }),
              }),
              md,
            ),
        ],
      ] as const) {
        const { err } = await call();
        assert.equal(err?.code, grpc.status.PERMISSION_DENIED, `${method} ${sessionId}: ${err?.details}`);
        assert.equal(
          decodeDetails(err.metadata)?.errorInfo?.reason,
          'SESSION_FORBIDDEN',
          `${method} ${sessionId}`,
        );
      }
      const stream = client.collaborativeSession(md);
      const got = new Collector<SessionMessage>(stream);
      stream.write(
        SessionMessage.fromPartial({ sessionId, payload: { $case: 'join', value: { clientId: 'm' } } }),
      );
      const ended = await got.waitForEnd(`the join of ${sessionId} to be refused`);
      assert.equal(ended.code, grpc.status.PERMISSION_DENIED, `join ${sessionId}: ${ended.details}`);
      assert.equal(decodeDetails(ended.metadata)?.errorInfo?.reason, 'SESSION_FORBIDDEN');
      assert.deepEqual(got.messages, [], `nothing of ${sessionId} reaches the caller`);
    }
  });

  it('serves sessions named after object properties to a token granting every session', async () => {
    const md = bearer(await mint('ann', { '*': 'author' }));
    for (const sessionId of PROPERTY_NAMES) {
      const opened = await unary(
        client.openReview.bind(client, {
          sessionId,
          userId: '',
          clientMessageId: 'o',
          files: [{ path: 'f', text: 'x\n' }],
        }),
        md,
      );
      assert.equal(opened.err, null, `OpenReview ${sessionId}: ${opened.err?.details}`);
      const stream = client.collaborativeSession(md);
      const got = new Collector<SessionMessage>(stream);
      stream.write(
        SessionMessage.fromPartial({ sessionId, payload: { $case: 'join', value: { clientId: 'a' } } }),
      );
      await got.waitFor(isCase('welcome'), `welcome in ${sessionId}`);
      stream.write(
        SessionMessage.fromPartial({
          clientMessageId: 'e1',
          payload: {
            $case: 'edit',
            value: { filePath: 'f', version: 0, operations: [{ kind: { $case: 'insert', value: 'y' } }] },
          },
        }),
      );
      const reply = await got.waitFor(
        (m) => (isCase('ack')(m) || isCase('error')(m)) && m.clientMessageId === 'e1',
        `the edit in ${sessionId} answered`,
      );
      assert.equal(
        reply.payload?.$case,
        'ack',
        `the author's edit in ${sessionId}: ${isCase('error')(reply) ? JSON.stringify(decodeStatus(reply.payload.value.status!)) : ''}`,
      );
      stream.end();
      assert.equal((await got.waitForEnd()).code, grpc.status.OK);
      const read = await unary(client.getSession.bind(client, { sessionId, pageSize: 0, pageToken: '' }), md);
      assert.equal(read.err, null, `GetSession ${sessionId}: ${read.err?.details}`);
      assert.equal(read.res?.files[0]?.text, 'yx\n');
    }
  });

  it('grants a session named __proto__ when the token names it, and only the role it names', async () => {
    const md = bearer(await mint('rita', Object.fromEntries([['__proto__', 'reviewer']])));
    const stream = client.collaborativeSession(md);
    const got = new Collector<SessionMessage>(stream);
    stream.write(
      SessionMessage.fromPartial({
        sessionId: '__proto__',
        payload: { $case: 'join', value: { clientId: 'r' } },
      }),
    );
    await got.waitFor(isCase('welcome'), 'welcome in __proto__');
    stream.write(
      SessionMessage.fromPartial({
        clientMessageId: 'e',
        payload: {
          $case: 'edit',
          value: { filePath: 'f', version: 0, operations: [{ kind: { $case: 'insert', value: 'z' } }] },
        },
      }),
    );
    const refused = await got.waitFor(isCase('error'), 'a reviewer may not edit');
    assert.equal(decodeStatus(refused.payload.value.status!).errorInfo?.reason, 'ROLE_FORBIDS');
    stream.end();
    await got.waitForEnd();
    const other = await unary(
      client.getSession.bind(client, { sessionId: 'constructor', pageSize: 0, pageToken: '' }),
      md,
    );
    assert.equal(other.err?.code, grpc.status.PERMISSION_DENIED);
  });
});
