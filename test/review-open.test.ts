// `livereview open` against a real git repository made here: a branch that adds, modifies and
// deletes a file (and has a binary one). The session it opens has each file's base and head texts,
// the diffs a client computes from them are the ones git's change makes, comments can sit on the
// head and on a removed line of the base, and a review larger than one message goes in several
// OpenReview calls.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LiveReviewClient, renderUnifiedDiff } from '../src/client/index.js';
import { openReviewFromGit } from '../src/review/open-from-git.js';
import { serverFixture } from './helpers/server.js';

const bin = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'livereview-open-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A git that ignores the machine's global configuration. */
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });

function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: GIT_ENV });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

const CART_BASE =
  'export function total(items) {\n  let sum = 0;\n  for (const i of items) sum += i.price;\n  return sum;\n}\n';
const CART_HEAD =
  'export function total(items) {\n  let sum = 0;\n  for (const i of items) sum += i.price * i.quantity;\n  return sum;\n}\n';
const LEGACY = 'export const legacy = true;\nexport const old = 1;\n';
const NOTES = '# Notes\n\nTotals count quantities.\n';

describe('livereview open', () => {
  const fx = serverFixture();
  let repo: string;

  before(() => {
    repo = join(scratch, 'shop');
    mkdirSync(join(repo, 'src'), { recursive: true });
    git(repo, 'init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'src/cart.js'), CART_BASE);
    writeFileSync(join(repo, 'src/legacy.js'), LEGACY);
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'base');
    git(repo, 'checkout', '-q', '-b', 'quantities');
    writeFileSync(join(repo, 'src/cart.js'), CART_HEAD);
    git(repo, 'rm', '-q', 'src/legacy.js');
    writeFileSync(join(repo, 'NOTES.md'), NOTES);
    writeFileSync(join(repo, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
  });

  it('opens the files changed since the merge base, with their base and head texts and diffs', async () => {
    const run = await runCli([
      'open',
      '--repo',
      repo,
      '--session',
      'shop-review',
      '--user',
      'ann',
      '--target',
      fx.server.address,
    ]);
    assert.equal(run.code, 0, run.out);
    assert.match(
      run.out,
      /^Opened review shop-review on 127\.0\.0\.1:\d+: 3 file\(s\), the working tree of quantities/m,
    );
    assert.match(run.out, /^ {2}added +NOTES\.md +\+3 -0$/m);
    assert.match(run.out, /^ {2}modified +src\/cart\.js +\+1 -1$/m);
    assert.match(run.out, /^ {2}deleted +src\/legacy\.js +\+0 -2$/m);
    assert.match(run.out, /^Skipped 1 file\(s\):\n {2}logo\.png: binary/m);
    assert.match(run.out, /join shop-review --user <name> --target 127\.0\.0\.1:\d+$/m);
    assert.match(run.out, /^ {2}http:\/\/127\.0\.0\.1:8080\/review\/shop-review$/m);

    const bob = new LiveReviewClient({
      targets: [fx.server.address],
      sessionId: 'shop-review',
      userId: 'bob',
    });
    try {
      await bob.connect();
      assert.deepEqual(bob.files.sort(), ['NOTES.md', 'src/cart.js', 'src/legacy.js']);
      assert.deepEqual(bob.file('NOTES.md'), {
        text: NOTES,
        version: 0,
        base: { text: '', change: 'added' },
      });
      assert.deepEqual(bob.file('src/cart.js'), {
        text: CART_HEAD,
        version: 0,
        base: { text: CART_BASE, change: 'modified' },
      });
      assert.deepEqual(bob.file('src/legacy.js'), {
        text: '',
        version: 0,
        base: { text: LEGACY, change: 'deleted' },
      });

      const diff = (path: string) => {
        const d = bob.diff(path);
        assert.ok(d?.status === 'diffed');
        return renderUnifiedDiff(d);
      };
      assert.equal(
        diff('src/cart.js'),
        [
          '@@ -1,5 +1,5 @@',
          ' export function total(items) {',
          '   let sum = 0;',
          '-  for (const i of items) sum += i.price;',
          '+  for (const i of items) sum += i.price * i.quantity;',
          '   return sum;',
          ' }',
          '',
        ].join('\n'),
      );
      assert.equal(diff('NOTES.md'), '@@ -0,0 +1,3 @@\n+# Notes\n+\n+Totals count quantities.\n');
      assert.equal(
        diff('src/legacy.js'),
        '@@ -1,2 +0,0 @@\n-export const legacy = true;\n-export const old = 1;\n',
      );
      // The same diff as git's (hunks only, no header).
      const gitDiff = git(repo, 'diff', 'main', '--', 'src/cart.js');
      assert.ok(gitDiff.endsWith(diff('src/cart.js')), gitDiff);

      // A comment on a removed line of the base stays there; one on the head moves with edits.
      await bob.commentOnBase('src/legacy.js', 2, 'who used `old`?');
      await bob.comment('src/cart.js', 3, 'quantity can be 0?');
      const state = await bob.getSession();
      const bySide = state.comments.map((c) => [c.path, c.side, c.line, c.originalLineText]);
      assert.deepEqual(bySide.sort(), [
        ['src/cart.js', 'head', 3, '  for (const i of items) sum += i.price * i.quantity;'],
        ['src/legacy.js', 'base', 2, 'export const old = 1;'],
      ]);
      assert.deepEqual(state.files.map((f) => [f.path, f.base?.text]).sort(), [
        ['NOTES.md', ''],
        ['src/cart.js', CART_BASE],
        ['src/legacy.js', LEGACY],
      ]);
    } finally {
      bob.close();
    }
  });

  it('says why when there is nothing to review, and opens nothing', async () => {
    const clean = join(scratch, 'clean');
    mkdirSync(clean);
    git(clean, 'init', '-q', '-b', 'main');
    writeFileSync(join(clean, 'a.txt'), 'a\n');
    git(clean, 'add', '.');
    git(clean, 'commit', '-q', '-m', 'one');
    const run = await runCli([
      'open',
      '--repo',
      clean,
      '--session',
      'clean',
      '--user',
      'ann',
      '--target',
      fx.server.address,
    ]);
    assert.equal(run.code, 1);
    assert.match(run.out, /nothing to review: no file with text changed in the working tree of main/);
    const bad = await runCli([
      'open',
      '--repo',
      clean,
      '--base',
      'nope',
      '--user',
      'ann',
      '--target',
      fx.server.address,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /cannot collect a review \(BAD_REVISION\): "nope" does not name a commit/);
  });

  it('sends a review larger than one message in several OpenReview calls, and skips a file too large for one', async () => {
    const big = join(scratch, 'big');
    mkdirSync(big);
    git(big, 'init', '-q', '-b', 'main');
    writeFileSync(join(big, 'seed.txt'), 'seed\n');
    git(big, 'add', '.');
    git(big, 'commit', '-q', '-m', 'one');
    const line = 'x'.repeat(99) + '\n';
    for (let i = 0; i < 6; i++) writeFileSync(join(big, `f${i}.txt`), line.repeat(100)); // 10 KB each
    writeFileSync(join(big, 'huge.txt'), line.repeat(400)); // 40 KB
    const calls: number[] = [];
    const client = new LiveReviewClient({ targets: [fx.server.address], sessionId: 'big', userId: 'ann' });
    try {
      const opened = await openReviewFromGit({
        repo: big,
        base: 'HEAD',
        maxMessageBytes: 16 * 1024 + 32 * 1024, // 32 KB for files: three per call
        client: {
          openReview: async (files) => {
            calls.push(files.length);
            return client.openReview(files);
          },
        },
      });
      assert.deepEqual(calls, [3, 3]);
      assert.equal(opened.calls, 2);
      assert.deepEqual(
        opened.opened.map((f) => f.path),
        ['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt', 'f5.txt'],
      );
      assert.deepEqual(
        opened.skipped.map((s) => [s.path, s.reason]),
        [['huge.txt', 'too_large']],
      );
      assert.match(opened.skipped[0]!.note, /more than one OpenReview message holds/);
      const state = await client.getSession();
      assert.equal(state.files.length, 6);
      assert.equal(state.headSequence, opened.sequence);
    } finally {
      client.close();
    }
  });
});
