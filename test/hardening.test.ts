// What hostile and unlucky clients did to the server (issue 16), one test per finding, each failing
// on the code before its fix: long lines, a catch-up larger than the queue, another user's client
// id, revoked tokens without a live stream, sessions too large to read, and messages that cost
// hundreds of milliseconds of CPU.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { mintToken } from '../src/security/tokens.js';
import {
  isCase,
  joinSession,
  openReview,
  ourClient,
  readWholeSession,
  unaryCall,
} from './helpers/clients.js';
import { decodeDetails, decodeStatus } from './helpers/status-details.js';
import { startTestServer } from './helpers/server.js';

const edit = (id: string, version: number, ops: object[]) =>
  SessionMessage.fromPartial({
    clientMessageId: id,
    payload: { $case: 'edit', value: { filePath: 'f.ts', version, operations: ops as never } },
  });
const insertAt = (at: number, text: string) =>
  at > 0
    ? [{ kind: { $case: 'retain', value: at } }, { kind: { $case: 'insert', value: text } }]
    : [{ kind: { $case: 'insert', value: text } }];
const comment = (id: string, text: string) =>
  SessionMessage.fromPartial({
    clientMessageId: id,
    payload: { $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text, action: 1 } },
  });

function refusalOf(m: SessionMessage) {
  assert.ok(isCase('error')(m));
  return decodeStatus(m.payload.value.status!);
}

describe('hardening', () => {
  it('a long line cannot poison a session: lines past the limit are refused, keystrokes stay small for ops_only clients', async () => {
    const server = await startTestServer({ logLevel: 'warn', maxLineChars: 20_000 });
    const client = ourClient(server.address);
    await openReview(client, 'long', [{ path: 'f.ts', text: 'x'.repeat(19_990) + '\nshort\n' }]);
    const author = joinSession(client, 'long', 'author', { clientId: 'author' });
    const lean = joinSession(client, 'long', 'lean', { clientId: 'lean', capabilities: ['ops', 'ops_only'] });
    const full = joinSession(client, 'long', 'full', { clientId: 'full', capabilities: ['ops'] });
    for (const p of [author, lean, full]) await p.got.waitFor(isCase('welcome'), 'welcome');

    // Six 900 KB inserts into one line (each under the message size limit) built a 5.9 MB line
    // before; now the first is refused, naming the field, and nothing is applied.
    for (let i = 0; i < 6; i++) author.call.write(edit(`big${i}`, 0, insertAt(5, 'y'.repeat(900_000))));
    for (let i = 0; i < 6; i++) {
      const refused = await author.got.waitFor(
        (m) => isCase('error')(m) && m.clientMessageId === `big${i}`,
        `big${i} refused`,
      );
      const status = refusalOf(refused);
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(status.errorInfo?.reason, 'LINE_TOO_LONG');
      assert.deepEqual(
        status.badRequest?.fieldViolations.map((v) => v.field),
        ['edit.operations'],
      );
    }
    // A keystroke on the longest line allowed: a few bytes to an ops_only client, the line (bounded
    // by the limit) to a client that asked for the text.
    author.call.write(edit('key', 0, insertAt(100, 'z')));
    const toLean = await lean.got.waitFor(isCase('edit'), 'the keystroke at lean');
    const toFull = await full.got.waitFor(isCase('edit'), 'the keystroke at full');
    assert.equal(toLean.payload.value.content, '');
    assert.ok(SessionMessage.encode(toLean).finish().length < 200, 'a keystroke is a small message');
    assert.equal(toFull.payload.value.content.length, 19_991);
    // The session stays readable and joinable.
    const s = await readWholeSession(client, 'long');
    assert.equal(s.files[0]!.text.length, 19_991 + 7);
    author.call.write(edit('too-long', 1, insertAt(100, 'z'.repeat(20))));
    assert.equal(
      refusalOf(
        await author.got.waitFor((m) => m.clientMessageId === 'too-long' && isCase('error')(m), 'refused'),
      ).errorInfo?.reason,
      'LINE_TOO_LONG',
    );
    // Opening a file with a line past the limit is refused too.
    await assert.rejects(
      openReview(client, 'long2', [{ path: 'g.ts', text: 'q'.repeat(20_001) }]),
      (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
        assert.equal(decodeDetails(e.metadata)?.errorInfo?.reason, 'LINE_TOO_LONG');
        return true;
      },
    );
    for (const p of [author, lean, full]) p.call.end();
    client.close();
    await server.shutdown(500);
  });

  it('a resume through more than the queue holds is paced by bytes, never cut off by its own catch-up', async () => {
    const server = await startTestServer({ logLevel: 'warn', maxCommentChars: 64 * 1024 * 1024 });
    const client = ourClient(server.address);
    await openReview(client, 'resume', [{ path: 'f.ts', text: 'x\n' }]);
    const writer = joinSession(client, 'resume', 'writer', { clientId: 'writer' });
    await writer.got.waitFor(isCase('welcome'), 'welcome');
    const text = 'w'.repeat(40_000);
    for (let i = 0; i < 600; i++) writer.call.write(comment(`c${i}`, text));
    await writer.got.waitFor((m) => isCase('ack')(m) && m.clientMessageId === 'c599', 'the last ack', 60_000);
    // 600 events of 40 KB: 24 MB, three times the 8 MiB queue bound.
    const reader = joinSession(client, 'resume', 'reader', { clientId: 'reader', resumeAfter: 1 });
    await reader.got.waitFor((m) => m.sequence === 601, 'the last event', 60_000);
    assert.equal(reader.got.ended, undefined, 'not cut off');
    const seqs = reader.got.messages.filter(isCase('comment')).map((m) => m.sequence);
    assert.deepEqual(
      seqs,
      Array.from({ length: 600 }, (_, i) => i + 2),
      'every event once, in order',
    );
    writer.call.end();
    reader.call.end();
    client.close();
    await server.shutdown(500);
  });

  it("another user naming an author's client id neither ends the author's stream nor swallows its messages", async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const client = ourClient(server.address);
    await openReview(client, 'ids', [{ path: 'f.ts', text: 'one\n' }]);
    const author = joinSession(client, 'ids', 'author', { clientId: 'author-laptop' });
    const welcome = await author.got.waitFor(isCase('welcome'), 'welcome');
    // The impostor joins with the author's client id (client ids are visible in every event).
    const impostor = joinSession(client, 'ids', 'mallory', { clientId: 'author-laptop' });
    const theirs = await impostor.got.waitFor(isCase('welcome'), 'welcome');
    assert.notEqual(theirs.payload.value.participantId, welcome.payload.value.participantId);
    // It submits under the author's client id and the SDK's predictable next message ids.
    for (const id of ['author-laptop:1', 'author-laptop:2']) {
      await unaryCall(client.submit.bind(client), {
        message: SessionMessage.fromPartial({
          sessionId: 'ids',
          userId: 'mallory',
          clientId: 'author-laptop',
          clientMessageId: id,
          payload: { $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text: 'spoof', action: 1 } },
        }),
      });
    }
    // The author's own messages with those ids are its own: committed, not duplicates.
    author.call.write(comment('author-laptop:1', 'first'));
    author.call.write(comment('author-laptop:2', 'second'));
    const acks = [
      await author.got.waitFor((m) => isCase('ack')(m) && m.clientMessageId === 'author-laptop:1', 'ack 1'),
      await author.got.waitFor((m) => isCase('ack')(m) && m.clientMessageId === 'author-laptop:2', 'ack 2'),
    ];
    for (const a of acks) assert.equal(isCase('ack')(a) && a.payload.value.duplicate, false);
    const s = await readWholeSession(client, 'ids');
    assert.deepEqual(s.comments.map((c) => c.text).sort(), ['first', 'second', 'spoof', 'spoof']);
    assert.equal(author.got.ended, undefined, "the author's stream goes on");
    author.call.end();
    impostor.call.end();
    client.close();
    await server.shutdown(500);
  });

  it('a revoked token is refused at once by unary calls and joins, with no stream open and before any snapshot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-revoke-'));
    const secret = 'a-test-secret-that-is-long-enough-for-hs256-0123456789';
    writeFileSync(join(dir, 'secret'), secret);
    const denylist = join(dir, 'denylist.json');
    writeFileSync(denylist, JSON.stringify({ tokens: [], users: [] }));
    // Re-checks of live streams only once an hour: the refusals below cannot come from them.
    const server = await startTestServer({
      logLevel: 'warn',
      authSecretFile: join(dir, 'secret'),
      authDenylistFile: denylist,
      authRecheckMs: 3_600_000,
    });
    const token = await mintToken({
      secret,
      userId: 'eve',
      sessions: { '*': 'author' },
      ttlSeconds: 3600,
      issuer: 'livereview',
      audience: 'livereview',
      tokenId: 'eves-token',
    });
    const md = () => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${token}`);
      return m;
    };
    const client = ourClient(server.address);
    const getSession = () =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        client.getSession({ sessionId: 'rv', pageSize: 0, pageToken: '' }, md(), (err) => resolve(err)),
      );
    await new Promise<void>((resolve, reject) =>
      client.openReview(
        { sessionId: 'rv', userId: '', clientMessageId: 'o', files: [{ path: 'f.ts', text: 'x' }] },
        md(),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    assert.equal(await getSession(), null);
    writeFileSync(denylist, JSON.stringify({ tokens: ['eves-token'], users: [] }));
    const refused = await getSession();
    assert.equal(refused?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(decodeDetails(refused!.metadata)?.errorInfo?.reason, 'TOKEN_REVOKED');
    const submitted = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.submit(
        {
          message: SessionMessage.fromPartial({
            sessionId: 'rv',
            clientMessageId: 's',
            payload: {
              $case: 'comment',
              value: { filePath: 'f.ts', lineNumber: 1, text: 'late', action: 1 },
            },
          }),
        },
        md(),
        (err) => resolve(err),
      ),
    );
    assert.equal(submitted?.code, grpc.status.UNAUTHENTICATED);
    const stream = joinSession(client, 'rv', '', { clientId: 'eve', metadata: md() });
    const ended = await stream.got.waitForEnd('the join refused');
    assert.equal(ended.code, grpc.status.UNAUTHENTICATED);
    assert.deepEqual(stream.got.messages, [], 'nothing of the session was sent');
    client.close();
    await server.shutdown(500);
  });

  it('comment volume is bounded and sessions are read in pages that each fit a response', async () => {
    const server = await startTestServer({
      logLevel: 'warn',
      maxMessageBytes: 64 * 1024,
      maxCommentsPerSession: 300,
    });
    const client = ourClient(server.address);
    await openReview(client, 'pages', [{ path: 'f.ts', text: 'line\n'.repeat(5000) }]);
    const writer = joinSession(client, 'pages', 'writer', { clientId: 'writer' });
    await writer.got.waitFor(isCase('welcome'), 'welcome');
    for (let i = 0; i < 301; i++) writer.call.write(comment(`c${i}`, `${i}:`.padEnd(4000, 'c')));
    const over = await writer.got.waitFor(
      (m) => m.clientMessageId === 'c300' && isCase('error')(m),
      'the 301st',
    );
    const status = refusalOf(over);
    assert.equal(status.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(status.errorInfo?.reason, 'TOO_MANY_COMMENTS');
    assert.ok(status.quotaFailure?.violations.length, 'QuotaFailure says which limit');

    // 300 comments of 4 KB (1.2 MB) with 64 KiB messages: ListComments and GetSession in pages.
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await unaryCall(client.listComments.bind(client), {
        sessionId: 'pages',
        includeResolved: true,
        pageToken: token,
      });
      assert.ok(page.comments.length > 0);
      seen.push(...page.comments.map((c) => c.commentId));
      token = page.nextPageToken;
      pages++;
    } while (token);
    assert.equal(seen.length, 300);
    assert.equal(new Set(seen).size, 300, 'every comment exactly once');
    assert.ok(pages > 10, `${pages} pages`);
    const whole = await readWholeSession(client, 'pages');
    assert.equal(whole.comments.length, 300);
    assert.equal(whole.files[0]!.text, 'line\n'.repeat(5000));
    await assert.rejects(
      unaryCall(client.listComments.bind(client), { sessionId: 'pages', pageToken: 'not-a-token!' }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT,
    );
    writer.call.end();
    client.close();
    await server.shutdown(500);
  });

  it('an edit at the oldest base version of a large file is refused instead of costing hundreds of ms', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const client = ourClient(server.address);
    const line = 'const value = computeSomethingRatherLong(input, options);\n';
    await openReview(client, 'cpu', [{ path: 'f.ts', text: line.repeat(8000) }]); // ~470 KB
    const a = joinSession(client, 'cpu', 'a', { clientId: 'a' });
    await a.got.waitFor(isCase('welcome'), 'welcome');
    for (let v = 0; v < 200; v++) a.call.write(edit(`e${v}`, v, insertAt(v * 3, 'x')));
    await a.got.waitFor((m) => isCase('ack')(m) && m.clientMessageId === 'e199', 'version 200');
    // A seed line edit and a comment at version 1 rebuild the text 199 versions back: ~94 M
    // characters of work on 470 KB. Refused, with what to do.
    a.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'stale-line',
        payload: {
          $case: 'edit',
          value: { filePath: 'f.ts', lineNumber: 3, content: 'changed', version: 1 },
        },
      }),
    );
    a.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'stale-comment',
        payload: {
          $case: 'comment',
          value: { filePath: 'f.ts', lineNumber: 3, text: 'hm', version: 1, action: 1 },
        },
      }),
    );
    // An op of 10,000 components 199 versions back: 2 M component transforms.
    const many = Array.from({ length: 5000 }, () => [
      { kind: { $case: 'retain', value: 1 } },
      { kind: { $case: 'insert', value: 'q' } },
    ]).flat();
    a.call.write(edit('stale-op', 1, many));
    for (const id of ['stale-line', 'stale-comment', 'stale-op']) {
      const stale = refusalOf(await a.got.waitFor((m) => m.clientMessageId === id && isCase('error')(m), id));
      assert.equal(stale.code, grpc.status.FAILED_PRECONDITION, id);
      assert.equal(stale.errorInfo?.reason, 'VERSION_TOO_OLD', id);
    }
    // A small op from far behind is cheap and transformed as always.
    a.call.write(edit('cheap', 1, insertAt(10, 'y')));
    await a.got.waitFor(
      (m) => isCase('ack')(m) && m.clientMessageId === 'cheap',
      'a small op from far behind',
    );
    // The same from a recent version is transformed as always.
    a.call.write(edit('recent', 196, insertAt(10, 'y')));
    await a.got.waitFor((m) => isCase('ack')(m) && m.clientMessageId === 'recent', 'a recent base is fine');
    a.call.end();
    client.close();
    await server.shutdown(500);
  });
});
