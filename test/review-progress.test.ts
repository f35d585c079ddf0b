// Verdicts and "viewed" marks: they reach every client live, the review summary follows, they
// survive a server killed with SIGKILL and restarted on its SQLite data (from a snapshot and the
// log after it), and a mark resets when its file changes afterwards.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  LiveReviewClient,
  type ReviewSummary,
  type VerdictInfo,
  type ViewedInfo,
} from '../src/client/index.js';
import { freePort, startChildServer } from './helpers/child-server.js';

const data = mkdtempSync(join(tmpdir(), 'lr-progress-'));
after(() => rmSync(data, { recursive: true, force: true }));

/** Resolves with the first event `name` of `client` that `match` accepts. */
function next<T>(client: LiveReviewClient, name: 'verdict' | 'viewed' | 'summary', match: (v: T) => boolean) {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching ${name} event`)), 10_000);
    const listener = (v: T) => {
      if (!match(v)) return;
      clearTimeout(timer);
      client.off(name, listener as never);
      resolve(v);
    };
    client.on(name, listener as never);
  });
}

const viewedBy = (s: ReviewSummary, user: string) => s.viewed.find((v) => v.userId === user);

describe('verdicts and viewed marks', () => {
  it('reach everyone live, survive a SIGKILL and a restart, and a viewed mark resets when its file changes', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    // A snapshot every few events: after the restart the state comes from one, plus the log.
    const args = ['--snapshot-every', '3'];
    let server = await startChildServer(port, data, args);
    const clients: LiveReviewClient[] = [];
    const connect = async (userId: string) => {
      const c = new LiveReviewClient({
        targets: [address],
        sessionId: 'progress',
        userId,
        backoff: { baseDelayMs: 50, maxDelayMs: 500 },
        // The restart takes a moment: keep trying rather than wait out an open breaker.
        circuitBreaker: { failureThreshold: 1000 },
      });
      clients.push(c);
      await c.connect();
      return c;
    };
    try {
      const ann = await connect('ann');
      await ann.openReview([
        { path: 'a.ts', text: 'const a = 2;\n', base: { text: 'const a = 1;\n' } },
        { path: 'b.ts', text: 'export {};\n', base: { text: '' } },
      ]);
      const bob = await connect('bob');
      const carol = await connect('carol');

      // A verdict reaches the others as it is given; the summary follows.
      const annSees = next<VerdictInfo>(ann, 'verdict', (v) => v.reviewer === 'bob');
      const annSummary = next<ReviewSummary>(ann, 'summary', (s) => s.outcome === 'changes_requested');
      await bob.setVerdict('request_changes', 'needs a test');
      const seen = await annSees;
      assert.equal(seen.verdict, 'request_changes');
      assert.equal(seen.message, 'needs a test');
      assert.deepEqual(
        (await annSummary).verdicts.map((v) => [v.reviewer, v.verdict]),
        [['bob', 'request_changes']],
      );

      // A viewed mark too.
      const carolSees = next<ViewedInfo>(carol, 'viewed', (m) => m.userId === 'bob');
      await bob.markViewed('a.ts');
      assert.deepEqual([(await carolSees).path, (await carolSees).viewed], ['a.ts', true]);
      assert.equal(carol.isViewed('a.ts', 'bob'), true);
      assert.deepEqual(viewedBy(carol.summary(), 'bob'), { userId: 'bob', files: 1, of: 2 });

      // Carol approves, then changes her mind: the latest counts, the history is kept.
      await carol.setVerdict('approve');
      await carol.setVerdict('comment', 'on second thought');
      await bob.markViewed('b.ts');
      await bob.markViewed('b.ts', false);

      // SIGKILL, restart on the same data: the clients reconnect and resume; a newcomer gets it all.
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      server = await startChildServer(port, data, args);
      const dave = await connect('dave');
      assert.deepEqual(
        dave.verdicts().map((v) => [v.reviewer, v.verdict, v.message]),
        [
          ['bob', 'request_changes', 'needs a test'],
          ['carol', 'comment', 'on second thought'],
        ],
      );
      assert.deepEqual(
        dave.verdictHistory().map((v) => [v.reviewer, v.verdict]),
        [
          ['bob', 'request_changes'],
          ['carol', 'approve'],
          ['carol', 'comment'],
        ],
      );
      assert.deepEqual(
        dave.viewedMarks().map((m) => [m.userId, m.path]),
        [['bob', 'a.ts']],
      );
      const state = await dave.getSession();
      assert.equal(state.summary.outcome, 'changes_requested');
      assert.deepEqual(state.summary.viewed, [
        { userId: 'bob', files: 1, of: 2 },
        { userId: 'carol', files: 0, of: 2 },
      ]);
      assert.equal(state.verdicts.length, 3);

      // The file changes after Bob viewed it: his mark no longer counts, for everyone, at once.
      const daveSummary = next<ReviewSummary>(dave, 'summary', (s) => viewedBy(s, 'bob')?.files === 0);
      await until(() => clients.every((c) => c.state === 'connected'));
      ann.edit('a.ts', [10, { d: 1 }, '3']);
      assert.deepEqual(viewedBy(await daveSummary, 'bob'), { userId: 'bob', files: 0, of: 2 });
      await new Promise<void>((resolve) => (ann.synced ? resolve() : ann.once('synced', () => resolve())));
      assert.equal((await dave.getSession()).summary.viewed[0]!.files, 0);
      await until(() => bob.file('a.ts')?.text === 'const a = 3;\n');
      assert.equal(bob.isViewed('a.ts'), false);
      // Viewed again, at the new version.
      await bob.markViewed('a.ts');
      assert.equal(bob.isViewed('a.ts'), true);
      assert.deepEqual(viewedBy((await dave.getSession()).summary, 'bob'), {
        userId: 'bob',
        files: 1,
        of: 2,
      });
    } finally {
      for (const c of clients) c.close();
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  });
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
