// The review features' edges: who may do what (reviewers suggest and vote, authors apply, viewers
// read), every refusal with its stable reason and details, seed clients that only ever get seed
// messages (an applied suggestion as the line edit it made, nothing of verdicts, marks or base
// comments), a file's text at any sequence from memory and from the log, bases in chunked
// snapshots, and suggestions applied over a half-duplex transport.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { LiveReviewCallError, LiveReviewClient, SessionClient } from '../src/client/index.js';
import { SessionMessage, type CodeReviewServiceClient } from '../src/gen/codereview/v1/codereview.js';
import { codePointLength } from '../src/ot/text.js';
import { mintToken } from '../src/security/tokens.js';
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
import { HalfDuplexTransport } from './helpers/half-duplex-transport.js';
import { serverFixture, startTestServer } from './helpers/server.js';
import { decodeStatus } from './helpers/status-details.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Sends `payload` on a joined stream and returns the refusal's status, decoded. */
async function refusal(stream: ReturnType<typeof joinSession>, id: string, payload: object) {
  stream.call.write(SessionMessage.fromPartial({ clientMessageId: id, payload } as Partial<SessionMessage>));
  const m = await stream.got.waitFor(
    (x) => isCase('error')(x) && x.payload.value.clientMessageId === id,
    `the refusal of ${id}`,
  );
  if (!isCase('error')(m) || !m.payload.value.status) throw new Error('not a refusal');
  return decodeStatus(m.payload.value.status);
}

describe('review features: who may do what', () => {
  it('lets reviewers suggest, vote and mark files viewed, authors apply, and viewers only read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-review-roles-'));
    dirs.push(dir);
    const secret = 'a-test-secret-that-is-long-enough-0123456789';
    writeFileSync(join(dir, 'secret'), secret);
    const server = await startTestServer({ logLevel: 'warn', authSecretFile: join(dir, 'secret') });
    const client = (userId: string, role: 'author' | 'reviewer' | 'viewer') =>
      new LiveReviewClient({
        targets: [server.address],
        sessionId: 'roles',
        userId,
        token: () =>
          mintToken({
            secret,
            userId,
            sessions: { roles: role },
            ttlSeconds: 600,
            issuer: 'livereview',
            audience: 'livereview',
          }),
      });
    const ann = client('ann', 'author');
    const rev = client('rev', 'reviewer');
    const vic = client('vic', 'viewer');
    try {
      await ann.connect();
      await ann.openReview([{ path: 'a.ts', text: 'one\ntwo\n', base: { text: 'one\n' } }]);
      await rev.connect();
      await vic.connect();
      const forbidden = async (p: Promise<unknown>) =>
        assert.rejects(p, (e: unknown) => e instanceof LiveReviewCallError && e.reason === 'ROLE_FORBIDS');

      const s = await rev.suggest('a.ts', 2, 2, ['TWO'], 'shout it');
      await rev.setVerdict('approve');
      await rev.markViewed('a.ts');
      await forbidden(rev.applySuggestion(s.commentId));

      await forbidden(vic.suggest('a.ts', 2, 2, ['2'], 'no'));
      await forbidden(vic.setVerdict('approve'));
      await forbidden(vic.markViewed('a.ts'));
      await forbidden(vic.applySuggestion(s.commentId));
      assert.equal(vic.summary().outcome, 'approved', 'but a viewer sees it all');
      assert.equal((await vic.exportReview('json')).includes('"outcome": "approved"'), true);

      await ann.applySuggestion(s.commentId);
      assert.equal(ann.file('a.ts')!.text, 'one\nTWO\n');
    } finally {
      for (const c of [ann, rev, vic]) c.close();
      await server.shutdown(500);
    }
  });
});

describe('review features: refusals', () => {
  const fx = serverFixture();

  it('refuses what does not fit with a stable reason and the details that say why', async () => {
    await openReview(fx.client, 'refusals', [{ path: 'a.ts', text: 'one\ntwo\nthree\n' }]);
    const s = joinSession(fx.client, 'refusals', 'bob', { clientId: 'bob' });
    const comment = (value: object) => ({
      $case: 'comment' as const,
      value: { filePath: 'a.ts', text: 'x', action: 1, ...value } as never,
    });
    const suggestion = (value: object) => ({
      startLine: 2,
      endLine: 2,
      replacement: 'TWO',
      originalText: '',
      ...value,
    });
    try {
      let d = await refusal(
        s,
        'r1',
        comment({ lineNumber: 2, suggestion: suggestion({ startLine: 3, endLine: 2 }) }),
      );
      assert.equal(d.errorInfo?.reason, 'INVALID_MESSAGE');
      assert.equal(d.badRequest?.fieldViolations[0]?.field, 'comment.suggestion.end_line');

      d = await refusal(
        s,
        'r2',
        comment({ lineNumber: 9, suggestion: suggestion({ startLine: 9, endLine: 9 }) }),
      );
      assert.equal(d.errorInfo?.reason, 'LINE_OUT_OF_RANGE');

      d = await refusal(s, 'r3', comment({ lineNumber: 1, suggestion: suggestion({}) }));
      assert.equal(d.errorInfo?.reason, 'INVALID_MESSAGE');
      assert.equal(d.badRequest?.fieldViolations[0]?.field, 'comment.line_number');

      d = await refusal(
        s,
        'r4',
        comment({ lineNumber: 2, suggestion: suggestion({ originalText: 'deux\n' }) }),
      );
      assert.equal(d.errorInfo?.reason, 'SUGGESTION_CONFLICT');
      assert.equal(d.errorInfo?.metadata.conflict, 'lines_edited');
      assert.equal(d.code, grpc.status.FAILED_PRECONDITION);

      // Opened without a base, the file's base is its text: three lines and the empty one after.
      d = await refusal(s, 'r5', comment({ lineNumber: 5, side: 2 }));
      assert.equal(d.errorInfo?.reason, 'LINE_OUT_OF_RANGE');
      d = await refusal(s, 'r6', comment({ lineNumber: 2, side: 2, suggestion: suggestion({}) }));
      assert.equal(d.badRequest?.fieldViolations[0]?.field, 'comment.suggestion');

      d = await refusal(s, 'r7', {
        $case: 'verdict',
        value: { kind: 0, message: '', reviewerId: '', at: 0, sequence: 0 },
      });
      assert.equal(d.errorInfo?.reason, 'INVALID_MESSAGE');
      assert.equal(d.badRequest?.fieldViolations[0]?.field, 'verdict.kind');

      d = await refusal(s, 'r8', {
        $case: 'fileViewed',
        value: { filePath: 'nope.ts', version: 0, viewed: true, userId: '', at: 0, sequence: 0 },
      });
      assert.equal(d.errorInfo?.reason, 'FILE_NOT_FOUND');
      d = await refusal(s, 'r9', {
        $case: 'fileViewed',
        value: { filePath: 'a.ts', version: 7, viewed: true, userId: '', at: 0, sequence: 0 },
      });
      assert.equal(d.errorInfo?.reason, 'VERSION_AHEAD');

      // A thread without a suggestion; one applied twice.
      s.call.write(SessionMessage.fromPartial({ clientMessageId: 'c', payload: comment({ lineNumber: 1 }) }));
      const plain = await s.got.waitFor(isCase('ack'), 'the comment');
      d = await refusal(s, 'r10', {
        $case: 'applySuggestion',
        value: { commentId: plain.payload.value.commentId },
      });
      assert.equal(d.errorInfo?.reason, 'NOT_A_SUGGESTION');
      s.call.write(
        SessionMessage.fromPartial({
          clientMessageId: 'sg',
          payload: comment({ lineNumber: 2, suggestion: suggestion({}) }),
        }),
      );
      const made = await s.got.waitFor(
        (m): m is SessionMessage => isCase('comment')(m) && m.clientMessageId === 'sg',
        'the suggestion, echoed',
      );
      const id = (made.payload as { value: { commentId: string } }).value.commentId;
      s.call.write(
        SessionMessage.fromPartial({
          clientMessageId: 'a1',
          payload: { $case: 'applySuggestion', value: { commentId: id } },
        }),
      );
      await s.got.waitFor(isCase('suggestionApplied'), 'applied');
      d = await refusal(s, 'r11', { $case: 'applySuggestion', value: { commentId: id } });
      assert.equal(d.errorInfo?.reason, 'SUGGESTION_APPLIED');
      assert.equal(d.errorInfo?.metadata.applied_by, 'bob');
      d = await refusal(s, 'r12', {
        $case: 'suggestionApplied',
        value: { commentId: id, suggestionAuthorId: '' },
      });
      assert.equal(d.errorInfo?.reason, 'INVALID_MESSAGE', 'sent by the server only');
    } finally {
      s.call.end();
    }
  });

  it('answers GetFileAt and ExportReview requests that do not fit with their reasons', async () => {
    await openReview(fx.client, 'history-refusals', [{ path: 'a.ts', text: 'a\n' }]);
    const call = (req: object) =>
      unaryCall(fx.client.getFileAt.bind(fx.client) as never, {
        sessionId: 'history-refusals',
        filePath: 'a.ts',
        ...req,
      });
    await assert.rejects(
      call({ sequence: 5 }),
      (e: grpc.ServiceError) =>
        e.code === grpc.status.OUT_OF_RANGE && /after the last one \(1\)/.test(e.details),
    );
    await assert.rejects(
      call({ filePath: '' }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT,
    );
    await assert.rejects(
      unaryCall(fx.client.exportReview.bind(fx.client) as never, {
        sessionId: 'history-refusals',
        format: 9,
      }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /format/.test(e.details),
    );
    await assert.rejects(
      unaryCall(fx.client.exportReview.bind(fx.client) as never, {
        sessionId: 'nobody-opened-it',
        format: 1,
      }),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
  });
});

describe('review features: seed clients', () => {
  const fx = serverFixture();

  it('get only seed messages: an applied suggestion as its line edit, nothing of verdicts, marks or base comments', async () => {
    await openReview(fx.client, 'seedy', [{ path: 'a.ts', text: 'one\ntwo\nthree\n' }]);
    const seed = seedClient(fx.server.address);
    const stream = seed.CollaborativeSession();
    const got = new Collector<SeedMessage>(stream);
    stream.write({ session_id: 'seedy', user_id: 'old', presence: { status: 'JOINED' } });
    const ann = new LiveReviewClient({ targets: [fx.server.address], sessionId: 'seedy', userId: 'ann' });
    try {
      await got.waitFor((m) => m.payload === 'edit' && m.edit!.line_number === 3, 'the file as line edits');
      await ann.connect();
      await ann.commentOnBase('a.ts', 1, 'on the base');
      const s = await ann.suggest('a.ts', 2, 2, ['TWO', 'TOO'], 'two lines');
      await ann.setVerdict('approve');
      await ann.markViewed('a.ts');
      await ann.applySuggestion(s.commentId);
      await ann.comment('a.ts', 1, 'done');
      await got.waitFor((m) => m.payload === 'comment' && m.comment!.text === 'done', 'the last comment');
      for (const m of got.messages) {
        assert.ok(
          ['edit', 'comment', 'cursor', 'presence'].includes(m.payload ?? ''),
          `a seed payload: ${m.payload}`,
        );
      }
      assert.ok(!got.messages.some((m) => m.comment?.text === 'on the base'), 'no comment on a base line');
      const applied = got.messages.filter((m) => m.payload === 'edit').at(-1)!.edit!;
      assert.deepEqual(applied, { file_path: 'a.ts', line_number: 2, content: 'TWO\nTOO', version: 1 });
    } finally {
      ann.close();
      stream.end();
      seed.close();
    }
  });
});

describe('review features: history', () => {
  it("gives a file's text after any event, from memory and, further back, from the log", async () => {
    // Two versions of history kept in memory: most of the questions go to the log.
    const server = await startTestServer({ logLevel: 'warn', historyVersions: 2 });
    const ann = new LiveReviewClient({ targets: [server.address], sessionId: 'history', userId: 'ann' });
    try {
      await ann.connect();
      const texts = new Map<number, { exists: boolean; text: string }>();
      const remember = () =>
        texts.set(ann.lastSequence, {
          exists: ann.files.includes('a.ts'),
          text: ann.file('a.ts')?.text ?? '',
        });
      await ann.openReview([{ path: 'other.ts', text: 'x\n' }]);
      remember();
      await ann.openReview([{ path: 'a.ts', text: 'start\n' }]);
      remember();
      for (let i = 0; i < 12; i++) {
        ann.edit('a.ts', [i % 3 === 0 ? `line ${i}\n` : `${i}`]);
        await new Promise<void>((resolve) => (ann.synced ? resolve() : ann.once('synced', () => resolve())));
        remember();
        if (i === 5) await ann.setVerdict('comment');
      }
      for (const [sequence, want] of texts) {
        const got = await ann.fileAt('a.ts', sequence);
        assert.deepEqual([got.exists, got.text], [want.exists, want.text], `after event ${sequence}`);
      }
      const current = await ann.fileAt('a.ts');
      assert.equal(current.text, ann.file('a.ts')!.text);
      assert.equal(current.sequence, ann.lastSequence);
      assert.equal((await ann.fileAt('a.ts', 0)).exists, false);
    } finally {
      ann.close();
      await server.shutdown(500);
    }
  });
});

describe('review features: bases in snapshots, and a half-duplex client', () => {
  it('brings a late joiner the base and head of files larger than a snapshot chunk', async () => {
    const server = await startTestServer({ logLevel: 'warn', maxMessageBytes: 4096 });
    const admin: CodeReviewServiceClient = ourClient(server.address);
    const lines = (word: string, from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `${word} ${from + i} ✓ 😀\n`).join('');
    const head = lines('head', 0, 60);
    const more = lines('more', 60, 100);
    const base = lines('base', 0, 60);
    const late = new LiveReviewClient({ targets: [server.address], sessionId: 'chunky', userId: 'late' });
    try {
      // More than a snapshot chunk (1024 characters at this message size) together.
      await unaryCall(admin.openReview.bind(admin), {
        sessionId: 'chunky',
        userId: 'admin',
        clientMessageId: 'open',
        files: [{ path: 'big.ts', text: head, base: { text: base, previousPath: '', change: 0 } }],
      });
      await late.connect();
      assert.equal(late.file('big.ts')!.text, head);
      assert.equal(late.file('big.ts')!.base.text, base);
      late.edit('big.ts', [codePointLength(head), more]);
      await new Promise<void>((resolve) => (late.synced ? resolve() : late.once('synced', () => resolve())));
      const again = new LiveReviewClient({ targets: [server.address], sessionId: 'chunky', userId: 'again' });
      try {
        await again.connect();
        assert.equal(again.file('big.ts')!.text, head + more);
        assert.equal(again.file('big.ts')!.base.text, base);
      } finally {
        again.close();
      }
    } finally {
      late.close();
      admin.close();
      await server.shutdown(500);
    }
  });

  it('applies a suggestion and gives a verdict over Subscribe + Submit, acknowledged once its event is in', async () => {
    const server = await startTestServer({ logLevel: 'warn' });
    const ann = new SessionClient({
      transport: new HalfDuplexTransport(server.address),
      sessionId: 'hd',
      userId: 'ann',
    });
    const bob = new LiveReviewClient({ targets: [server.address], sessionId: 'hd', userId: 'bob' });
    try {
      await ann.connect();
      await ann.openReview([{ path: 'a.ts', text: 'one\ntwo\n' }]);
      await bob.connect();
      const s = await bob.suggest('a.ts', 1, 1, ['ONE'], 'louder');
      const applied = await ann.applySuggestion(s.commentId);
      // Resolved: the edit is in this client's text already.
      assert.equal(ann.file('a.ts')!.text, 'ONE\ntwo\n');
      assert.equal(ann.lastSequence >= applied.sequence, true);
      const v = await ann.setVerdict('comment', 'self-review');
      assert.deepEqual(
        ann.verdicts().map((x) => [x.reviewer, x.sequence]),
        [['ann', v.sequence]],
      );
      assert.equal(ann.comments().find((c) => c.id === s.commentId)!.suggestion!.status, 'applied');
      assert.equal(ann.synced, true);
    } finally {
      ann.close();
      bob.close();
      await server.shutdown(500);
    }
  });
});
