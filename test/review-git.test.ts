// Starting a review from a git working tree: a real repository made here with git, a branch with
// added, modified, deleted and renamed files, uncommitted and untracked changes, and the files a
// review must not take as text (binary, huge, not UTF-8, symbolic links, unsafe names).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diffTexts, renderUnifiedDiff, type TextDiff } from '../src/review/diff.js';
import { collectReview, GitSourceError, type CollectedReview } from '../src/review/git-source.js';

const scratch = mkdtempSync(join(tmpdir(), 'livereview-git-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A git that ignores the machine's global configuration, so the test sees the same git anywhere. */
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
}

function newRepo(name: string, branch = 'main'): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  git(dir, 'init', '-q', '-b', branch);
  return dir;
}

function write(repo: string, path: string, content: string | Buffer): void {
  writeFileSync(join(repo, path), content);
}

async function refused(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GitSourceError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

const MODIFY_BASE = Array.from({ length: 12 }, (_, i) => `const v${i + 1} = ${i + 1};\n`).join('');

describe('review from git', () => {
  let repo: string;
  let mainSha: string;
  let review: CollectedReview;
  const outside = join(scratch, 'outside-secret.txt');

  before(async () => {
    repo = newRepo('feature');
    write(repo, '.gitignore', '*.tmp\n');
    write(repo, 'keep.txt', 'unchanged\n');
    write(repo, 'modify.ts', MODIFY_BASE);
    write(repo, 'delete.md', '# going away\n');
    write(repo, 'rename-me.txt', 'one\ntwo\nthree\nfour\nfive\nsix\n');
    write(repo, 'image.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'base');
    mainSha = git(repo, 'rev-parse', 'HEAD');

    git(repo, 'checkout', '-q', '-b', 'feature');
    write(repo, 'modify.ts', MODIFY_BASE.replace('const v2 = 2;\n', 'const v2 = 20;\n'));
    git(repo, 'rm', '-q', 'delete.md');
    git(repo, 'mv', 'rename-me.txt', 'renamed.txt');
    write(repo, 'renamed.txt', 'one\ntwo\nthree\nfour\nfive\nsix\nseven\n');
    write(repo, 'added.ts', 'export const added = true;\n');
    write(repo, 'image.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 9, 9, 9]));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'feature work');

    // Not committed: an unstaged edit, untracked files, and what a review must skip.
    write(repo, 'modify.ts', MODIFY_BASE.replace('const v2 = 2;\n', 'const v2 = 20;\n') + 'const v13 = 13;');
    write(repo, 'untracked.txt', 'new and untracked\r\nwith CRLF\r\n');
    write(repo, 'scratch.tmp', 'ignored\n');
    write(repo, 'huge.log', 'x'.repeat(20_000));
    write(repo, 'latin1.txt', Buffer.from('caf\xe9\n', 'latin1'));
    write(repo, 'bad\nname.txt', 'a file name with a line break\n');
    writeFileSync(outside, 'a secret outside the repository\n');
    symlinkSync(outside, join(repo, 'link-out'));
    chmodSync(join(repo, 'keep.txt'), 0o755);

    review = await collectReview({ repo, maxFileBytes: 10_000 });
  });

  it('compares with the merge base of HEAD and the default branch', () => {
    assert.equal(review.root, repo);
    assert.deepEqual(review.base, {
      sha: mainSha,
      revision: 'main',
      description: `the merge base of HEAD with main (${mainSha.slice(0, 7)})`,
    });
    const head = git(repo, 'rev-parse', 'HEAD');
    assert.deepEqual(review.head, {
      sha: head,
      branch: 'feature',
      description: `the working tree of feature (HEAD ${head.slice(0, 7)})`,
    });
  });

  it('collects added, modified, deleted, renamed and untracked files with their base and head texts', () => {
    assert.deepEqual(review.files, [
      { path: 'added.ts', change: 'added', baseText: '', headText: 'export const added = true;\n' },
      { path: 'delete.md', change: 'deleted', baseText: '# going away\n', headText: '' },
      {
        path: 'modify.ts',
        change: 'modified',
        baseText: MODIFY_BASE,
        headText: MODIFY_BASE.replace('const v2 = 2;\n', 'const v2 = 20;\n') + 'const v13 = 13;',
      },
      {
        path: 'renamed.txt',
        change: 'renamed',
        previousPath: 'rename-me.txt',
        baseText: 'one\ntwo\nthree\nfour\nfive\nsix\n',
        headText: 'one\ntwo\nthree\nfour\nfive\nsix\nseven\n',
      },
      {
        path: 'untracked.txt',
        change: 'added',
        baseText: '',
        headText: 'new and untracked\r\nwith CRLF\r\n',
      },
    ]);
  });

  it('diffs each file from its base to its head', () => {
    const diffOf = (path: string): string => {
      const f = review.files.find((x) => x.path === path)!;
      return renderUnifiedDiff(diffTexts(f.baseText, f.headText) as TextDiff);
    };
    assert.equal(
      diffOf('modify.ts'),
      '@@ -1,5 +1,5 @@\n const v1 = 1;\n-const v2 = 2;\n+const v2 = 20;\n const v3 = 3;\n const v4 = 4;\n const v5 = 5;\n' +
        '@@ -10,3 +10,4 @@\n const v10 = 10;\n const v11 = 11;\n const v12 = 12;\n+const v13 = 13;\n\\ No newline at end of file\n',
    );
    assert.equal(diffOf('delete.md'), '@@ -1 +0,0 @@\n-# going away\n');
    assert.equal(diffOf('added.ts'), '@@ -0,0 +1 @@\n+export const added = true;\n');
    assert.equal(diffOf('renamed.txt'), '@@ -4,3 +4,4 @@\n four\n five\n six\n+seven\n');
  });

  it('skips binary, huge, non-UTF-8, mode-only, symbolic-link and unsafe files with a note saying why', () => {
    assert.deepEqual(
      review.skipped.map((s) => [s.path, s.reason]),
      [
        ['"bad\\nname.txt"', 'invalid_path'],
        ['huge.log', 'too_large'],
        ['image.png', 'binary'],
        ['keep.txt', 'unchanged'],
        ['latin1.txt', 'not_utf8'],
        ['link-out', 'symlink'],
      ],
    );
    const note = (path: string): string => review.skipped.find((s) => s.path === path)!.note;
    assert.equal(note('huge.log'), '20000 bytes, above the limit of 10000 per file');
    assert.equal(note('image.png'), 'binary (git shows no lines for it)');
    assert.equal(note('latin1.txt'), 'its head is not UTF-8 text');
    assert.equal(note('"bad\\nname.txt"'), 'the path contains control characters');
    assert.equal(note('link-out'), `a symbolic link to ${JSON.stringify(outside)} (not followed)`);
    // The link's target was never read.
    assert.ok(!JSON.stringify(review).includes('a secret outside'));
  });

  it('treats a NUL byte as binary even where git was not asked', async () => {
    write(repo, 'nul.txt', 'text\0more\n');
    try {
      const again = await collectReview({ repo, maxFileBytes: 10_000 });
      assert.deepEqual(
        again.skipped.find((s) => s.path === 'nul.txt'),
        { path: 'nul.txt', reason: 'binary', note: 'binary (its head has a NUL byte)' },
      );
    } finally {
      rmSync(join(repo, 'nul.txt'));
    }
  });

  it('compares with the revision given', async () => {
    const previous = await collectReview({ repo, base: 'HEAD', maxFileBytes: 10_000 });
    assert.equal(previous.base.sha, git(repo, 'rev-parse', 'HEAD'));
    assert.deepEqual(
      previous.files.map((f) => [f.path, f.change]),
      [
        ['modify.ts', 'modified'],
        ['untracked.txt', 'added'],
      ],
    );
  });

  it('refuses a base that is not a commit, or that looks like an option', async () => {
    await refused(
      collectReview({ repo, base: 'no-such-branch' }),
      'BAD_REVISION',
      /"no-such-branch" does not name a commit/,
    );
    const target = join(scratch, 'written-by-option');
    await refused(
      collectReview({ repo, base: `--output=${target}` }),
      'BAD_REVISION',
      /does not name a commit/,
    );
    assert.ok(!existsSync(target));
    await refused(collectReview({ repo, base: '' }), 'BAD_REVISION', /"" does not name a commit/);
  });

  it('refuses more changed files than the limit', async () => {
    await refused(
      collectReview({ repo, maxFiles: 3 }),
      'TOO_MANY_FILES',
      /^11 files changed since the merge base of HEAD with main \([0-9a-f]{7}\), more than the limit of 3: pass a closer base/,
    );
  });
});

describe('review from git: where to compare from', () => {
  it('prefers the remote default branch (origin/HEAD) when the repository has one', async () => {
    const upstream = newRepo('upstream');
    write(upstream, 'a.txt', 'a\n');
    git(upstream, 'add', '-A');
    git(upstream, 'commit', '-q', '-m', 'a');
    const clone = join(scratch, 'clone');
    git(scratch, 'clone', '-q', upstream, clone);
    git(clone, 'checkout', '-q', '-b', 'topic');
    write(clone, 'a.txt', 'a\nb\n');
    const review = await collectReview({ repo: join(clone) });
    assert.equal(review.base.revision, 'origin/main');
    assert.deepEqual(
      review.files.map((f) => [f.path, f.baseText, f.headText]),
      [['a.txt', 'a\n', 'a\nb\n']],
    );
  });

  it('says clearly when there is no default branch and no base', async () => {
    const repo = newRepo('trunk-only', 'trunk');
    write(repo, 'a.txt', 'a\n');
    await refused(collectReview({ repo }), 'NO_COMMITS', /no commit yet/);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'a');
    write(repo, 'a.txt', 'b\n');
    await refused(
      collectReview({ repo }),
      'NO_DEFAULT_BRANCH',
      /no default branch to compare with \(no origin\/HEAD, main or master\): pass a base revision \(--base <rev>\)/,
    );
    const review = await collectReview({ repo, base: 'trunk' });
    assert.deepEqual(
      review.files.map((f) => f.path),
      ['a.txt'],
    );
  });

  it('refuses a directory outside any repository, and one that does not exist', async () => {
    const plain = join(scratch, 'not-a-repo');
    mkdirSync(plain);
    await refused(collectReview({ repo: plain }), 'NOT_A_REPOSITORY', /is not in a git working tree/);
    await refused(
      collectReview({ repo: join(scratch, 'missing') }),
      'NOT_A_REPOSITORY',
      /is not a directory/,
    );
  });
});
