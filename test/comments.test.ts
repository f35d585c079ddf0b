// Comments follow the code: anchors move with edits on every client, on the server and in a late
// joiner's snapshot; a comment whose line is deleted is outdated, never lost or moved elsewhere.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineRange } from '../src/ot/lines.js';
import type { TextOp } from '../src/ot/text.js';
import type { Comment, SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { isCase, unaryCall } from './helpers/clients.js';
import { TestEditor } from './helpers/editor.js';
import { serverFixture } from './helpers/server.js';

/** Inserts `text` at the start of line `line` (1-based). */
const insertAtLine =
  (line: number, text: string) =>
  (doc: string): TextOp => {
    const start = lineRange(doc, line)!.start;
    return start > 0 ? [start, text] : [text];
  };
/** Deletes line `line` with its terminator. */
const deleteLine =
  (line: number) =>
  (doc: string): TextOp => {
    const r = lineRange(doc, line)!;
    return r.start > 0 ? [r.start, { d: r.end - r.start }] : [{ d: r.end - r.start }];
  };
/** Replaces the content of line `line`. */
const rewriteLine =
  (line: number, text: string) =>
  (doc: string): TextOp => {
    const r = lineRange(doc, line)!;
    const op: TextOp = r.start > 0 ? [r.start] : [];
    if (r.contentEnd > r.start) op.push({ d: r.contentEnd - r.start });
    op.push(text);
    return op;
  };

const commentOf = (m: SessionMessage): Comment | undefined =>
  m.payload?.$case === 'comment' ? m.payload.value : undefined;

describe('comments anchored to lines', () => {
  const fx = serverFixture({ logLevel: 'warn' });

  async function session(id: string, text: string) {
    await unaryCall(fx.client.openReview.bind(fx.client), {
      sessionId: id,
      userId: 'author',
      clientMessageId: 'o',
      files: [{ path: 'f.ts', text }],
    });
    const alice = new TestEditor(fx.client, id, 'alice', 'alice');
    const bob = new TestEditor(fx.client, id, 'bob', 'bob');
    await Promise.all([alice.ready, bob.ready]);
    return { alice, bob };
  }

  async function comment(by: TestEditor, id: string, line: number, others: TestEditor[]) {
    by.write({
      clientMessageId: `cm-${id}`,
      payload: {
        $case: 'comment',
        value: { commentId: id, filePath: 'f.ts', lineNumber: line, text: `on ${line}` },
      },
    });
    await by.got.waitFor((m) => isCase('ack')(m) && m.payload.value.commentId === id, `ack of ${id}`);
    for (const o of others)
      await o.got.waitFor((m) => commentOf(m)?.commentId === id, `${id} at ${o.clientId}`);
    // The author tracks its own comment once acknowledged, as a fx.client SDK would.
    if (!by.comments.has(id)) {
      const list = await unaryCall(fx.client.listComments.bind(fx.client), {
        sessionId: by.sessionId,
        filePath: '',
        includeResolved: true,
        pageSize: 0,
        pageToken: '',
      });
      const c = list.comments.find((x) => x.commentId === id)!;
      by.track(c);
    }
  }

  async function settle(editors: TestEditor[], version: number) {
    await Promise.all(editors.map((e) => e.settled('f.ts', version)));
  }

  async function expectLines(
    id: string,
    editors: TestEditor[],
    expected: Record<string, { line: number; outdated: boolean }>,
  ) {
    for (const e of editors) {
      for (const [cid, want] of Object.entries(expected))
        assert.deepEqual(e.commentLine(cid), want, `${cid} at ${e.clientId}`);
    }
    const listed = await unaryCall(fx.client.listComments.bind(fx.client), {
      sessionId: id,
      filePath: '',
      includeResolved: true,
      pageSize: 0,
      pageToken: '',
    });
    for (const [cid, want] of Object.entries(expected)) {
      const c = listed.comments.find((x) => x.commentId === cid)!;
      assert.deepEqual({ line: c.lineNumber, outdated: c.outdated }, want, `${cid} on the server`);
    }
    const late = new TestEditor(fx.client, id, 'late', `late-${Math.random()}`);
    await late.ready;
    for (const [cid, want] of Object.entries(expected))
      assert.deepEqual(late.commentLine(cid), want, `${cid} in a late joiner's snapshot`);
    late.close();
  }

  it('moves down when a line is inserted above, up when one is deleted above, stays when its line is edited', async () => {
    const { alice, bob } = await session('anchor-1', 'one\ntwo\nthree\nfour\n');
    await comment(alice, 'c3', 3, [bob]);
    await comment(bob, 'c2', 2, [alice]);
    alice.edit('f.ts', insertAtLine(1, 'zero\n'));
    await settle([alice, bob], 1);
    await expectLines('anchor-1', [alice, bob], {
      c3: { line: 4, outdated: false },
      c2: { line: 3, outdated: false },
    });
    bob.edit('f.ts', deleteLine(2)); // "one"
    await settle([alice, bob], 2);
    await expectLines('anchor-1', [alice, bob], {
      c3: { line: 3, outdated: false },
      c2: { line: 2, outdated: false },
    });
    alice.edit('f.ts', rewriteLine(2, 'TWO, renamed')); // c2's own line
    await settle([alice, bob], 3);
    await expectLines('anchor-1', [alice, bob], {
      c3: { line: 3, outdated: false },
      c2: { line: 2, outdated: false },
    });
    alice.close();
    bob.close();
  });

  it('marks a comment outdated when its line is deleted, keeping the original text', async () => {
    const { alice, bob } = await session('anchor-2', 'a\nb\nc\n');
    await comment(alice, 'cb', 2, [bob]);
    bob.edit('f.ts', deleteLine(2));
    await settle([alice, bob], 1);
    await expectLines('anchor-2', [alice, bob], { cb: { line: 2, outdated: true } });
    const listed = await unaryCall(fx.client.listComments.bind(fx.client), {
      sessionId: 'anchor-2',
      filePath: 'f.ts',
      includeResolved: false,
      pageSize: 0,
      pageToken: '',
    });
    const cb = listed.comments.find((c) => c.commentId === 'cb')!;
    assert.equal(cb.originalLineText, 'b', 'the original line text is kept');
    assert.equal(cb.text, 'on 2', 'never lost');
    // A line inserted where the deleted line was does not adopt the outdated comment: it stays
    // outdated, and (like any anchor start) text inserted at its position goes above it.
    alice.edit('f.ts', insertAtLine(2, 'new b\n'));
    await settle([alice, bob], 2);
    await expectLines('anchor-2', [alice, bob], { cb: { line: 3, outdated: true } });
    alice.close();
    bob.close();
  });

  it('lands at the same line on every fx.client under concurrent edits from two clients', async () => {
    const { alice, bob } = await session('anchor-3', 'l1\nl2\nl3\nl4\nl5\n');
    await comment(alice, 'c4', 4, [bob]);
    await comment(bob, 'c2', 2, [alice]);
    // Concurrent: alice inserts two lines at the top while bob deletes line 3; neither waits.
    alice.edit('f.ts', insertAtLine(1, 'top1\ntop2\n'));
    bob.edit('f.ts', deleteLine(3));
    await settle([alice, bob], 2);
    assert.equal(alice.text('f.ts'), bob.text('f.ts'));
    assert.equal(alice.text('f.ts'), 'top1\ntop2\nl1\nl2\nl4\nl5\n');
    await expectLines('anchor-3', [alice, bob], {
      c4: { line: 5, outdated: false },
      c2: { line: 4, outdated: false },
    });
    alice.close();
    bob.close();
  });

  it('threads replies and resolves / reopens a thread for everyone', async () => {
    const { alice, bob } = await session('thread', 'x\ny\n');
    await comment(alice, 'root', 2, [bob]);
    bob.write({
      clientMessageId: 'r1',
      payload: {
        $case: 'comment',
        value: { commentId: 'reply-1', parentId: 'root', action: 2, text: 'agreed' },
      },
    });
    const reply = commentOf(
      await alice.got.waitFor((m) => commentOf(m)?.commentId === 'reply-1', 'the reply'),
    )!;
    assert.equal(reply.parentId, 'root');
    assert.equal(reply.lineNumber, 2, 'a reply shares its thread line');
    bob.write({
      clientMessageId: 'r2',
      payload: { $case: 'comment', value: { commentId: 'reply-1', action: 4 } },
    });
    const resolved = commentOf(await alice.got.waitFor((m) => commentOf(m)?.action === 4, 'resolved'))!;
    assert.equal(resolved.commentId, 'root', 'resolving a reply resolves its thread');
    assert.equal(resolved.state, 2);
    let open = await unaryCall(fx.client.listComments.bind(fx.client), {
      sessionId: 'thread',
      filePath: '',
      includeResolved: false,
      pageSize: 0,
      pageToken: '',
    });
    assert.deepEqual(open.comments, [], 'a resolved thread is not listed as open');
    alice.write({
      clientMessageId: 'r3',
      payload: { $case: 'comment', value: { commentId: 'root', action: 5 } },
    });
    await bob.got.waitFor((m) => commentOf(m)?.action === 5, 'reopened');
    open = await unaryCall(fx.client.listComments.bind(fx.client), {
      sessionId: 'thread',
      filePath: '',
      includeResolved: false,
      pageSize: 0,
      pageToken: '',
    });
    assert.deepEqual(open.comments.map((c) => c.commentId).sort(), ['reply-1', 'root']);
    alice.write({
      clientMessageId: 'r4',
      payload: { $case: 'comment', value: { commentId: 'root', action: 3, text: 'edited' } },
    });
    const edited = commentOf(await bob.got.waitFor((m) => commentOf(m)?.action === 3, 'edited'))!;
    assert.equal(edited.text, 'edited');
    alice.close();
    bob.close();
  });
});
