// Presence on every way a stream can end, deadlines, and hostile input with its exact statuses.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { Collector, isCase, joinSession } from './helpers/clients.js';
import { decodeDetails, decodeStatus } from './helpers/status-details.js';
import { serverFixture } from './helpers/server.js';

const isLeft = (user: string) => (m: SessionMessage) =>
  m.payload?.$case === 'presence' && m.payload.value.status === 3 && m.userId === user;

describe('stream lifecycle', () => {
  const fx = serverFixture({ maxMessageBytes: 64 * 1024 });

  it('tells the others LEFT when a participant half-closes, and ends that stream OK', async () => {
    const alice = joinSession(fx.client, 'life-1', 'alice');
    await alice.got.waitFor(isCase('welcome'), 'welcome');
    const bob = joinSession(fx.client, 'life-1', 'bob');
    await bob.got.waitFor(isCase('welcome'), 'welcome');
    bob.call.end();
    await alice.got.waitFor(isLeft('bob'), 'bob LEFT');
    assert.equal((await bob.got.waitForEnd()).code, grpc.status.OK);
    alice.call.end();
  });

  it('tells the others LEFT when a participant cancels', async () => {
    const alice = joinSession(fx.client, 'life-2', 'alice');
    await alice.got.waitFor(isCase('welcome'), 'welcome');
    const bob = joinSession(fx.client, 'life-2', 'bob');
    await bob.got.waitFor(isCase('welcome'), 'welcome');
    bob.call.cancel();
    await alice.got.waitFor(isLeft('bob'), 'bob LEFT');
    alice.call.end();
  });

  it('ends a stream whose deadline passes with DEADLINE_EXCEEDED, and its participant leaves', async () => {
    const alice = joinSession(fx.client, 'life-3', 'alice');
    await alice.got.waitFor(isCase('welcome'), 'welcome');
    const bob = joinSession(fx.client, 'life-3', 'bob', { deadline: Date.now() + 400 });
    await bob.got.waitFor(isCase('welcome'), 'welcome');
    assert.equal((await bob.got.waitForEnd()).code, grpc.status.DEADLINE_EXCEEDED);
    await alice.got.waitFor(isLeft('bob'), 'bob LEFT after its deadline');
    const state = await new Promise<{ roster: { userId: string }[] }>((resolve, reject) =>
      fx.client.getSession({ sessionId: 'life-3', pageSize: 0, pageToken: '' }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
    assert.deepEqual(
      state.roster.map((p) => p.userId),
      ['alice'],
    );
    alice.call.end();
  });

  it('refuses a join without a session id: INVALID_ARGUMENT with BadRequest naming the field', async () => {
    const call = fx.client.collaborativeSession();
    const got = new Collector<SessionMessage>(call);
    call.write(
      SessionMessage.fromPartial({ userId: 'alice', payload: { $case: 'presence', value: { status: 0 } } }),
    );
    const ended = await got.waitForEnd();
    assert.equal(ended.code, grpc.status.INVALID_ARGUMENT);
    const details = decodeDetails(ended.metadata);
    assert.equal(details?.errorInfo?.reason, 'INVALID_JOIN');
    assert.equal(details?.errorInfo?.domain, 'livereview.dev');
    assert.deepEqual(
      details?.badRequest?.fieldViolations.map((v) => v.field),
      ['session_id'],
    );
  });

  it('ends a stream that sends a message over the size limit with RESOURCE_EXHAUSTED', async () => {
    const alice = joinSession(fx.client, 'life-4', 'alice');
    await alice.got.waitFor(isCase('welcome'), 'welcome');
    alice.call.write(
      SessionMessage.fromPartial({
        payload: { $case: 'comment', value: { filePath: 'x', lineNumber: 1, text: 'x'.repeat(70 * 1024) } },
      }),
    );
    assert.equal((await alice.got.waitForEnd()).code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it('answers a bad message in-stream, naming its fx.client message id, and the session goes on', async () => {
    await new Promise<void>((resolve, reject) =>
      fx.client.openReview(
        {
          sessionId: 'life-5',
          userId: 'a',
          clientMessageId: '',
          files: [{ path: 'f.txt', text: 'hello\n' }],
        },
        (e) => (e ? reject(e) : resolve()),
      ),
    );
    const alice = joinSession(fx.client, 'life-5', 'alice');
    const bob = joinSession(fx.client, 'life-5', 'bob');
    await alice.got.waitFor(isCase('welcome'), 'welcome');
    await bob.got.waitFor(isCase('welcome'), 'welcome');
    alice.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'bad-1',
        payload: {
          $case: 'edit',
          value: { filePath: 'f.txt', version: 0, operations: [{ kind: { $case: 'retain', value: 0 } }] },
        },
      }),
    );
    const error = await alice.got.waitFor(isCase('error'), 'an in-stream error');
    assert.equal(error.payload.value.clientMessageId, 'bad-1');
    const details = decodeStatus(error.payload.value.status!);
    assert.equal(details.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(details.errorInfo?.reason, 'INVALID_MESSAGE');
    assert.deepEqual(
      details.badRequest?.fieldViolations.map((v) => v.field),
      ['edit.operations[0].retain'],
    );

    alice.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'bad-2',
        payload: {
          $case: 'edit',
          value: { filePath: 'f.txt', version: 0, operations: [{ kind: { $case: 'retain', value: 99 } }] },
        },
      }),
    );
    const tooLong = await alice.got.waitFor(
      (m) => isCase('error')(m) && m.clientMessageId === 'bad-2',
      'bad-2 refused',
    );
    assert.equal(
      decodeStatus((tooLong as typeof error).payload.value.status!).errorInfo?.reason,
      'INVALID_OPERATION',
    );

    // The stream and the session go on.
    alice.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'good-1',
        payload: { $case: 'comment', value: { filePath: 'f.txt', lineNumber: 1, text: 'fine' } },
      }),
    );
    const ack = await alice.got.waitFor(isCase('ack'), 'ack of good-1');
    assert.equal(ack.payload.value.clientMessageId, 'good-1');
    assert.equal(ack.payload.value.sequence, 2);
    const seen = await bob.got.waitFor(isCase('comment'), 'the comment');
    assert.equal(seen.sequence, 2);
    alice.call.end();
    bob.call.end();
  });

  it('answers undecodable bytes in-stream without ending the stream', async () => {
    const raw = new grpc.Client(fx.server.address, grpc.credentials.createInsecure());
    const call = raw.makeBidiStreamRequest(
      '/codereview.v1.CodeReviewService/CollaborativeSession',
      (b: Buffer) => b,
      (b: Buffer) => SessionMessage.decode(b),
    );
    const got = new Collector<SessionMessage>(call);
    call.write(
      Buffer.from(
        SessionMessage.encode(
          SessionMessage.fromPartial({
            sessionId: 'life-6',
            userId: 'x',
            payload: { $case: 'join', value: { clientId: 'x-client', capabilities: [] } },
          }),
        ).finish(),
      ),
    );
    await got.waitFor(isCase('welcome'), 'welcome');
    call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff]));
    const err = await got.waitFor(isCase('error'), 'MALFORMED_MESSAGE');
    assert.equal(decodeStatus(err.payload.value.status!).errorInfo?.reason, 'MALFORMED_MESSAGE');
    call.write(
      Buffer.from(
        SessionMessage.encode(
          SessionMessage.fromPartial({
            clientMessageId: 'p',
            payload: { $case: 'presence', value: { status: 1 } },
          }),
        ).finish(),
      ),
    );
    call.end();
    assert.equal((await got.waitForEnd()).code, grpc.status.OK);
    raw.close();
  });
});
