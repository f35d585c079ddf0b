// A client generated from the seed's .proto verbatim joins and collaborates; sessions are isolated.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Collector, ourClient, seedClient, type SeedMessage } from './helpers/clients.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('a client built from the seed .proto', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.shutdown(500);
  });

  function joinSeed(session: string, user: string) {
    const stream = seedClient(server.address).CollaborativeSession();
    const got = new Collector<SeedMessage>(stream);
    stream.write({
      session_id: session,
      user_id: user,
      timestamp: Date.now(),
      presence: { status: 'JOINED' },
    });
    return { stream, got };
  }

  it('joins with presence JOINED and exchanges comments, cursors, presence and edits', async () => {
    const client = ourClient(server.address);
    await new Promise<void>((resolve, reject) =>
      client.openReview(
        {
          sessionId: 's1',
          userId: 'author',
          clientMessageId: 'open-1',
          files: [{ path: 'main.ts', text: 'one\ntwo\nthree\n' }],
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    client.close();

    const alice = joinSeed('s1', 'alice');
    const bob = joinSeed('s1', 'bob');
    const carol = joinSeed('s2', 'carol');
    const dave = joinSeed('s2', 'dave');

    const bobJoined = await alice.got.waitFor(
      (m) => m.presence?.status === 'JOINED' && m.user_id === 'bob',
      'bob JOINED',
    );
    assert.equal(bobJoined.session_id, 's1');
    assert.ok(bobJoined.timestamp > 0, 'server sets a timestamp');

    alice.stream.write({
      session_id: 's1',
      user_id: 'alice',
      comment: { comment_id: '', line_number: 2, text: 'nit: rename' },
    });
    const comment = await bob.got.waitFor((m) => m.payload === 'comment', 'a comment');
    assert.equal(comment.user_id, 'alice');
    assert.equal(comment.comment?.text, 'nit: rename');
    assert.equal(comment.comment?.line_number, 2);
    assert.ok(comment.comment?.comment_id, 'the server assigns a comment id');

    alice.stream.write({
      session_id: 's1',
      user_id: 'alice',
      cursor: { file_path: 'main.ts', line: 3, column: 2 },
    });
    const cursor = await bob.got.waitFor((m) => m.payload === 'cursor', 'a cursor');
    assert.deepEqual(cursor.cursor, { file_path: 'main.ts', line: 3, column: 2 });
    assert.equal(cursor.user_id, 'alice');

    alice.stream.write({
      session_id: 's1',
      user_id: 'alice',
      edit: { file_path: 'main.ts', line_number: 1, content: 'ONE', version: 0 },
    });
    const edit = await bob.got.waitFor((m) => m.payload === 'edit' && m.user_id === 'alice', 'an edit');
    assert.deepEqual(edit.edit, { file_path: 'main.ts', line_number: 1, content: 'ONE', version: 1 });
    assert.equal(edit.user_id, 'alice');

    bob.stream.write({ session_id: 's1', user_id: 'bob', presence: { status: 'IDLE' } });
    const idle = await alice.got.waitFor((m) => m.presence?.status === 'IDLE', 'bob IDLE');
    assert.equal(idle.user_id, 'bob');

    // Nobody receives their own message back disguised as someone else's.
    assert.ok(
      !alice.got.messages.some(
        (m) =>
          m.user_id === 'alice' &&
          (m.payload === 'comment' || m.payload === 'edit' || m.payload === 'cursor'),
      ),
    );
    assert.ok(!bob.got.messages.some((m) => m.payload === 'presence' && m.user_id === 'bob'));

    // Session isolation: s2 traffic arrives, and nothing of s1 ever reached s2.
    dave.stream.write({ session_id: 's2', user_id: 'dave', presence: { status: 'ACTIVE' } });
    await carol.got.waitFor(
      (m) => m.presence?.status === 'ACTIVE' && m.user_id === 'dave',
      'dave ACTIVE in s2',
    );
    for (const m of [...carol.got.messages, ...dave.got.messages]) {
      assert.notEqual(m.session_id, 's1');
      assert.ok(!['alice', 'bob'].includes(m.user_id), `s2 saw ${m.user_id}`);
    }

    for (const c of [alice, bob, carol, dave]) c.stream.end();
    await Promise.all([alice, bob, carol, dave].map((c) => c.got.waitForEnd()));
    assert.equal(alice.got.ended?.code, 0);
  });
});
