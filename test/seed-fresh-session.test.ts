// Clients generated from proto/baseline (the seed's .proto, verbatim) in a session nobody opened:
// they create a file with line edits, comment, move cursors; a late joiner is brought up to date in
// seed messages only, also after the server was killed and restarted on its data directory.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import {
  Collector,
  isCase,
  joinSession,
  openReview,
  ourClient,
  seedClient,
  unaryCall,
  type SeedMessage,
} from './helpers/clients.js';
import { freePort, startChildServer } from './helpers/child-server.js';
import { startTestServer } from './helpers/server.js';

const SEED_PAYLOADS = ['edit', 'comment', 'cursor', 'presence'];

/** What a seed client keeps: the lines of each file, rebuilt from line edits (replace line N with
 * content; line count + 1 appends), the comments by id, who is here, the cursors. */
class SeedReplica {
  readonly files = new Map<string, string[]>();
  readonly comments = new Map<string, { author: string; line: number; text: string }>();
  readonly present = new Map<string, string>();
  readonly cursors = new Map<string, { file: string; line: number; column: number }>();

  apply(m: SeedMessage): void {
    assert.ok(m.payload && SEED_PAYLOADS.includes(m.payload), `a seed payload, got ${JSON.stringify(m)}`);
    if (m.edit) {
      const lines = this.files.get(m.edit.file_path) ?? [];
      const replacement = m.edit.content.split('\n');
      if (m.edit.line_number === lines.length + 1) lines.push(...replacement);
      else lines.splice(m.edit.line_number - 1, 1, ...replacement);
      this.files.set(m.edit.file_path, lines);
    } else if (m.comment) {
      this.comments.set(m.comment.comment_id, {
        author: m.user_id,
        line: m.comment.line_number,
        text: m.comment.text,
      });
    } else if (m.presence) {
      if (m.presence.status === 'LEFT') this.present.delete(m.user_id);
      else this.present.set(m.user_id, m.presence.status);
    } else if (m.cursor) {
      this.cursors.set(m.user_id, { file: m.cursor.file_path, line: m.cursor.line, column: m.cursor.column });
    }
  }

  text(path: string): string | undefined {
    return this.files.get(path)?.join('\n');
  }
}

function joinSeed(address: string, session: string, user: string, options: grpc.ClientOptions = {}) {
  const stream = seedClient(address, options).CollaborativeSession();
  const got = new Collector<SeedMessage>(stream);
  const replica = new SeedReplica();
  stream.on('data', (m: SeedMessage) => replica.apply(m));
  stream.write({ session_id: session, user_id: user, timestamp: Date.now(), presence: { status: 'JOINED' } });
  return { stream, got, replica };
}

describe('seed clients in a session nobody opened', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it('comment, cursor and file reach a second seed client and a late joiner, also after a SIGKILL restart', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lr-seed-'));
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const first = await startChildServer(port, data);
    children.push(first);

    const alice = joinSeed(address, 'fresh', 'alice');
    const bob = joinSeed(address, 'fresh', 'bob');
    await alice.got.waitFor((m) => m.presence?.status === 'JOINED' && m.user_id === 'bob', 'bob JOINED');

    // No OpenReview: the first line edit (version 0) creates the file; then a comment that names no
    // file (the seed's Comment has none) and a cursor.
    alice.stream.write({
      edit: { file_path: 'main.go', line_number: 1, content: 'package main', version: 0 },
    });
    await bob.got.waitFor((m) => m.edit?.version === 1, 'the first line');
    alice.stream.write({
      edit: { file_path: 'main.go', line_number: 2, content: 'func main() {}', version: 1 },
    });
    await bob.got.waitFor((m) => m.edit?.version === 2, 'the second line');
    alice.stream.write({ cursor: { file_path: 'main.go', line: 2, column: 6 } });
    alice.stream.write({ comment: { comment_id: '', line_number: 2, text: 'needs a doc comment' } });
    const comment = await bob.got.waitFor((m) => m.payload === 'comment', "alice's comment");
    assert.equal(comment.user_id, 'alice');
    assert.equal(comment.comment?.line_number, 2);
    const cursor = await bob.got.waitFor((m) => m.payload === 'cursor', "alice's cursor");
    assert.deepEqual(cursor.cursor, { file_path: 'main.go', line: 2, column: 6 });
    assert.equal(bob.replica.text('main.go'), 'package main\nfunc main() {}');

    const carol = joinSeed(address, 'fresh', 'carol');
    await carol.got.waitFor((m) => m.payload === 'cursor', 'the cursors, last of the catch-up');
    assert.deepEqual([...carol.replica.present.keys()].sort(), ['alice', 'bob']);
    assert.equal(carol.replica.text('main.go'), 'package main\nfunc main() {}');
    assert.deepEqual(
      [...carol.replica.comments.values()],
      [{ author: 'alice', line: 2, text: 'needs a doc comment' }],
    );
    assert.deepEqual(carol.replica.cursors.get('alice'), { file: 'main.go', line: 2, column: 6 });

    // Killed, restarted on the same data directory: the seed clients join again, and a late joiner
    // sees the comment exactly once and the whole file.
    first.kill('SIGKILL');
    await Promise.all([alice, bob, carol].map((c) => c.got.waitForEnd()));
    const second = await startChildServer(port, data);
    children.push(second);
    const alice2 = joinSeed(address, 'fresh', 'alice');
    const bob2 = joinSeed(address, 'fresh', 'bob');
    await alice2.got.waitFor((m) => m.presence?.status === 'JOINED' && m.user_id === 'bob', 'bob again');
    const dave = joinSeed(address, 'fresh', 'dave');
    await dave.got.waitFor((m) => m.payload === 'comment', 'the comment');
    await new Promise((r) => setTimeout(r, 200)); // anything else that might follow
    assert.deepEqual([...dave.replica.present.keys()].sort(), ['alice', 'bob']);
    assert.equal(dave.replica.text('main.go'), 'package main\nfunc main() {}');
    const comments = dave.got.messages.filter((m) => m.payload === 'comment');
    assert.equal(comments.length, 1, 'each comment exactly once');
    assert.equal(comments[0]!.user_id, 'alice');
    assert.equal(comments[0]!.comment?.text, 'needs a doc comment');
    for (const c of [alice2, bob2, dave]) c.stream.end();
    await Promise.all([alice2, bob2, dave].map((c) => c.got.waitForEnd()));
    second.kill('SIGTERM');
  });
});

describe('what a seed client receives in a busy session', () => {
  it('is only ever an edit, a comment, a cursor or a presence update, through cut-off and shutdown', async () => {
    const server = await startTestServer({ logLevel: 'warn', outboundQueueMessages: 32 });
    const address = server.address;
    const ours = ourClient(address);
    await openReview(ours, 'busy', [
      { path: 'a.ts', text: 'one\ntwo\nthree\n' },
      { path: 'b.ts', text: 'x\n' },
    ]);
    const watcher = joinSeed(address, 'busy', 'watcher');
    const slow = joinSeed(address, 'busy', 'slow', { 'grpc.use_local_subchannel_pool': 1 });
    const author = joinSession(ours, 'busy', 'author', { clientId: 'author-1' });
    await author.got.waitFor(isCase('welcome'), 'welcome');
    let n = 0;
    // Payloads written as plain literals (fromPartial fills the rest).
    const send = (payload: object) =>
      author.call.write(SessionMessage.fromPartial({ clientMessageId: `m${++n}`, payload } as never));
    // A burst of joins (presence batching), edits of several kinds, comments, a thread, a resolve,
    // a file opened meanwhile.
    const crowd = Array.from({ length: 12 }, (_, i) =>
      joinSession(ours, 'busy', `p${i}`, { clientId: `p${i}` }),
    );
    send({
      $case: 'edit',
      value: { filePath: 'a.ts', version: 0, operations: [{ kind: { $case: 'insert', value: 'zero\n' } }] },
    });
    send({ $case: 'comment', value: { filePath: 'a.ts', lineNumber: 2, text: 'why?', action: 1 } });
    await author.got.waitFor(
      (m) => m.payload?.$case === 'ack' && m.clientMessageId === 'm2',
      'comment acked',
    );
    const commentId = (
      author.got.messages.find((m) => m.clientMessageId === 'm2')!.payload as { value: { commentId: string } }
    ).value.commentId;
    send({ $case: 'comment', value: { parentId: commentId, text: 'because', action: 2 } });
    send({ $case: 'comment', value: { commentId, action: 4 } });
    send({ $case: 'cursor', value: { filePath: 'a.ts', line: 1, column: 2 } });
    await unaryCall(ours.openReview.bind(ours), {
      sessionId: 'busy',
      userId: 'author',
      clientMessageId: 'open-c',
      files: [{ path: 'c.ts', text: 'late\nfile\n' }],
    });
    for (const c of crowd) c.call.end();
    // The slow seed reader stops reading while the author types: it is cut off (a status).
    slow.stream.pause();
    for (let i = 0; i < 1500; i++) {
      send({
        $case: 'edit',
        value: { filePath: 'b.ts', version: 0, operations: [{ kind: { $case: 'insert', value: `${i};` } }] },
      });
    }
    await watcher.got.waitFor(
      (m) => m.edit?.file_path === 'b.ts' && m.edit.version === 1500,
      'the last edit',
      30_000,
    );
    slow.stream.resume(); // its status is behind what it did not read
    const cut = await slow.got.waitForEnd('the slow reader cut off', 30_000);
    assert.equal(cut.code, grpc.status.UNAVAILABLE);
    // Shutdown ends the watcher's stream with a status, nothing else.
    await server.shutdown(500);
    const ended = await watcher.got.waitForEnd();
    assert.equal(ended.code, grpc.status.UNAVAILABLE);
    ours.close();

    const kinds = new Set<string>();
    for (const m of [...watcher.got.messages, ...slow.got.messages]) {
      assert.ok(m.payload && SEED_PAYLOADS.includes(m.payload), `unknown payload: ${JSON.stringify(m)}`);
      kinds.add(m.payload);
    }
    assert.deepEqual([...kinds].sort(), SEED_PAYLOADS.slice().sort());
    // The file opened while the watcher was here reached it as line edits it can rebuild.
    assert.equal(watcher.replica.text('c.ts'), 'late\nfile\n');
    // The thread's reply and the resolve reached it as comments.
    assert.ok(watcher.got.messages.some((m) => m.comment?.text === 'because'));
  });
});
