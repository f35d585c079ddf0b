// The diff a reviewer sees between a file's base and head: hunks, line numbers on both sides, the
// unified text git would print, where lines of one side are on the other, and bounded work.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { applyPatch } from 'diff';
import fc from 'fast-check';
import { lineRange } from '../src/ot/lines.js';
import { diffTexts, renderUnifiedDiff, type DiffResult, type TextDiff } from '../src/review/diff.js';
import { reviewPathProblem } from '../src/review/path.js';

function diffed(result: DiffResult): TextDiff {
  assert.equal(result.status, 'diffed', result.status === 'too_large' ? result.message : '');
  return result as TextDiff;
}

function unified(base: string, head: string, context?: number): string {
  return renderUnifiedDiff(diffed(diffTexts(base, head, { context })));
}

const lines = (n: number, label = 'line'): string =>
  Array.from({ length: n }, (_, i) => `${label} ${i + 1}\n`).join('');

describe('review diff', () => {
  const dir = mkdtempSync(join(tmpdir(), 'livereview-diff-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** What `git diff --no-index` prints for the two texts, from the first hunk on. */
  function gitDiff(base: string, head: string): string {
    writeFileSync(join(dir, 'base'), base);
    writeFileSync(join(dir, 'head'), head);
    try {
      execFileSync('git', ['diff', '--no-index', '--no-color', '--no-ext-diff', 'base', 'head'], {
        cwd: dir,
        encoding: 'utf8',
      });
      return '';
    } catch (err) {
      // Without git's function-name context after a hunk header, which this diff does not show.
      const out = (err as { stdout: string }).stdout;
      return out.slice(out.indexOf('@@')).replace(/^(@@ [^@]+ @@).*$/gm, '$1');
    }
  }

  it('shows a changed line with three lines of context and numbers on both sides', () => {
    const base = lines(10);
    const head = base.replace('line 5\n', 'line five\n');
    const diff = diffed(diffTexts(base, head));
    assert.equal(diff.added, 1);
    assert.equal(diff.removed, 1);
    assert.equal(diff.hunks.length, 1);
    const hunk = diff.hunks[0]!;
    assert.deepEqual([hunk.baseStart, hunk.baseCount, hunk.headStart, hunk.headCount], [2, 7, 2, 7]);
    assert.deepEqual(
      hunk.lines.map((l) => [l.kind, l.baseLine, l.headLine, l.text]),
      [
        ['context', 2, 2, 'line 2'],
        ['context', 3, 3, 'line 3'],
        ['context', 4, 4, 'line 4'],
        ['removed', 5, undefined, 'line 5'],
        ['added', undefined, 5, 'line five'],
        ['context', 6, 6, 'line 6'],
        ['context', 7, 7, 'line 7'],
        ['context', 8, 8, 'line 8'],
      ],
    );
    assert.equal(
      renderUnifiedDiff(diff, { paths: { base: 'src/a.ts', head: 'src/a.ts' } }),
      '--- a/src/a.ts\n+++ b/src/a.ts\n' +
        '@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n',
    );
  });

  it('prints what git prints for inserts, deletes, missing final newlines, CRLF, added and deleted files', () => {
    const cases: [string, string][] = [
      [lines(20), lines(20).replace('line 3\n', 'line 3\nnew a\nnew b\n').replace('line 17\n', '')],
      [lines(5), lines(5).replace('line 1\n', '')],
      ['a\nb\nc', 'a\nb\nC'],
      ['a\nb\nc', 'a\nb\nc\n'],
      ['a\nb\nc\n', 'a\nb\nc'],
      ['one\r\ntwo\r\nthree\r\n', 'one\r\n2\r\nthree\r\n'],
      ['one\ntwo\n', 'one\r\ntwo\n'],
      ['', 'x\ny\n'],
      ['x\ny', ''],
      [lines(30), lines(30).replace('line 2\n', 'line 2!\n').replace('line 9\n', 'line 9!\n')],
      [lines(30), lines(30).replace('line 2\n', 'line 2!\n').replace('line 10\n', 'line 10!\n')],
    ];
    for (const [base, head] of cases) {
      assert.equal(unified(base, head), gitDiff(base, head), JSON.stringify([base, head]));
    }
  });

  it('keeps CRLF in the unified text unless asked for display line endings', () => {
    const diff = diffed(diffTexts('a\r\nb\r\n', 'a\r\nB\r\n'));
    assert.equal(renderUnifiedDiff(diff), '@@ -1,2 +1,2 @@\n a\r\n-b\r\n+B\r\n');
    assert.equal(renderUnifiedDiff(diff, { lineEndings: 'lf' }), '@@ -1,2 +1,2 @@\n a\n-b\n+B\n');
    assert.deepEqual(
      diff.hunks[0]!.lines.map((l) => [l.text, l.eol]),
      [
        ['a', '\r\n'],
        ['b', '\r\n'],
        ['B', '\r\n'],
      ],
    );
  });

  it('shows a line whose terminator changed as changed', () => {
    const diff = diffed(diffTexts('a\nb\n', 'a\r\nb\n'));
    assert.equal(diff.added, 1);
    assert.equal(diff.removed, 1);
    assert.deepEqual(
      diff.hunks[0]!.lines.map((l) => [l.kind, l.text, l.eol]),
      [
        ['removed', 'a', '\n'],
        ['added', 'a', '\r\n'],
        ['context', 'b', '\n'],
      ],
    );
  });

  it('shows an added file as all added and a deleted file as all removed', () => {
    const added = diffed(diffTexts('', 'x\ny'));
    assert.deepEqual(
      [added.hunks[0]!.baseStart, added.hunks[0]!.baseCount, added.added, added.removed],
      [0, 0, 2, 0],
    );
    assert.equal(renderUnifiedDiff(added), '@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n');
    const deleted = diffed(diffTexts('x\n', ''));
    assert.equal(
      renderUnifiedDiff(deleted, { paths: { base: 'gone.txt', head: null } }),
      '--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n',
    );
  });

  it('has no hunks for identical texts, empty ones included', () => {
    for (const text of ['', 'a', 'a\n', lines(1000)]) {
      const diff = diffed(diffTexts(text, text));
      assert.deepEqual([diff.hunks, diff.added, diff.removed], [[], 0, 0]);
      assert.equal(renderUnifiedDiff(diff), '');
    }
  });

  it('shows as much context as asked, and merges hunks whose context would touch', () => {
    const base = lines(20);
    const head = base.replace('line 5\n', 'five\n').replace('line 12\n', 'twelve\n');
    assert.equal(diffed(diffTexts(base, head)).hunks.length, 1);
    const narrow = diffed(diffTexts(base, head, { context: 1 }));
    assert.deepEqual(
      narrow.hunks.map((h) => [h.baseStart, h.baseCount, h.headStart, h.headCount]),
      [
        [4, 3, 4, 3],
        [11, 3, 11, 3],
      ],
    );
    assert.equal(unified(base, head, 0), '@@ -5 +5 @@\n-line 5\n+five\n@@ -12 +12 @@\n-line 12\n+twelve\n');
    const whole = diffed(diffTexts(base, head, { context: Infinity }));
    assert.equal(whole.hunks.length, 1);
    assert.equal(whole.hunks[0]!.lines.length, 22);
    assert.equal(unified('a\nb\n', 'a\nx\nb\n', 0), '@@ -1,0 +2 @@\n+x\n');
  });

  it('maps base lines to head lines, removed ones to where they were', () => {
    const base = 'keep 1\nold 2\nold 3\nkeep 4\nkeep 5\n';
    const head = 'new 0\nkeep 1\nnew 2\nkeep 4\nkeep 5\nnew 6\n';
    const map = diffed(diffTexts(base, head)).lineMap;
    assert.deepEqual(map.headLineOfBase(1), { removed: false, headLine: 2 });
    assert.deepEqual(map.headLineOfBase(2), { removed: true, headLine: 3 });
    assert.deepEqual(map.headLineOfBase(3), { removed: true, headLine: 3 });
    assert.deepEqual(map.headLineOfBase(4), { removed: false, headLine: 4 });
    assert.deepEqual(map.headLineOfBase(5), { removed: false, headLine: 5 });
    assert.equal(map.headLineOfBase(7), undefined);
    assert.equal(map.headLineOfBase(0), undefined);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((l) => map.baseLineOfHead(l)),
      [undefined, 1, undefined, 4, 5, undefined],
    );
    // The empty line after the final newline exists on both sides.
    assert.deepEqual(map.headLineOfBase(6), { removed: false, headLine: 7 });
    assert.equal(map.baseLineOfHead(7), 6);
    assert.equal(map.baseLineOfHead(8), undefined);
  });

  it('maps removed lines at the end of a file, and of a deleted file, onto lines that exist', () => {
    const tail = diffed(diffTexts('a\nb\nc', 'a')).lineMap;
    assert.deepEqual(tail.headLineOfBase(3), { removed: true, headLine: 1 });
    const gone = diffed(diffTexts('a\nb\n', '')).lineMap;
    assert.deepEqual(gone.headLineOfBase(1), { removed: true, headLine: 1 });
    assert.deepEqual(gone.headLineOfBase(3), { removed: false, headLine: 1 });
    const added = diffed(diffTexts('', 'a\nb\n')).lineMap;
    assert.equal(added.baseLineOfHead(1), undefined);
    assert.equal(added.baseLineOfHead(3), 1);
  });

  it('reports a diff beyond its bounds as too large instead of searching', () => {
    const grown = diffTexts(lines(10), lines(5000), { maxEditLength: 100 });
    assert.equal(grown.status, 'too_large');
    assert.equal(grown.status === 'too_large' && grown.bound, 'max_edit_length');
    assert.match(grown.status === 'too_large' ? grown.message : '', /too large to diff: at least 4990/);

    // Same line count, every other line changed: only the search finds out.
    const base = lines(1000);
    const scattered = base
      .split('\n')
      .map((l, i) => (i % 2 ? l + '!' : l))
      .join('\n');
    const result = diffTexts(base, scattered, { maxEditLength: 400 });
    assert.deepEqual(result.status === 'too_large' && [result.bound, result.message], [
      'max_edit_length',
      'too large to diff: more than 400 lines changed',
    ]);
    assert.equal(diffed(diffTexts(base, scattered, { maxEditLength: 1000 })).added, 500);
  });

  it('diffs a huge file with a few changes, and a huge added file, within the default bounds', () => {
    const base = lines(200_000);
    const head = base.replace('line 100000\n', 'changed\n') + 'appended\n';
    const diff = diffed(diffTexts(base, head));
    assert.deepEqual([diff.added, diff.removed, diff.hunks.length], [2, 1, 2]);
    assert.equal(diffed(diffTexts('', base)).added, 200_000);
  });
});

describe('review diff (property)', () => {
  const line = fc.constantFrom('a', 'b', 'c', '', '  x', 'é😀', 'a\r');
  const text = fc
    .record({
      lines: fc.array(fc.record({ line, eol: fc.constantFrom('\n', '\n', '\r\n') }), { maxLength: 12 }),
      last: fc.option(line, { nil: undefined }),
    })
    .map(({ lines, last }) => lines.map((l) => l.line + l.eol).join('') + (last ?? ''));

  it('turns the base into the head when applied as a patch, and maps lines consistently', () => {
    fc.assert(
      fc.property(text, text, fc.integer({ min: 0, max: 4 }), (base, head, context) => {
        const diff = diffed(diffTexts(base, head, { context }));
        const patch = renderUnifiedDiff(diff, { paths: { base: 'f', head: 'f' } });
        assert.equal(patch === '', base === head);
        if (patch) assert.equal(applyPatch(base, patch, { autoConvertLineEndings: false }), head);
        for (const h of diff.hunks) {
          assert.equal(h.lines.filter((l) => l.kind !== 'added').length, h.baseCount);
          assert.equal(h.lines.filter((l) => l.kind !== 'removed').length, h.headCount);
        }
        // An unchanged line maps both ways onto a line with the same text.
        for (let b = 1; lineRange(base, b); b++) {
          const place = diff.lineMap.headLineOfBase(b)!;
          assert.ok(place, `base line ${b}`);
          assert.ok(lineRange(head, place.headLine), `head line ${place.headLine} exists`);
          if (!place.removed) {
            assert.equal(diff.lineMap.baseLineOfHead(place.headLine), b);
            assert.equal(lineRange(head, place.headLine)!.text, lineRange(base, b)!.text);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('review paths', () => {
  it('accepts relative paths and refuses what could escape or spoof', () => {
    for (const ok of ['a.txt', 'src/review/diff.ts', '.github/workflows/ci.yml', 'dir with space/ü.md']) {
      assert.equal(reviewPathProblem(ok), undefined, ok);
    }
    const refused: [string, RegExp][] = [
      ['', /empty/],
      ['/etc/passwd', /absolute/],
      ['C:/x', /absolute/],
      ['a/../../b', /".."/],
      ['./a', /"\."/],
      ['a//b', /empty segment/],
      ['a/', /empty segment/],
      ['a\\b', /backslash/],
      ['a\nb', /control/],
      ['a\u001b[31mb', /control/],
      ['a\u2028b', /control/],
      ['x'.repeat(1025), /longer/],
    ];
    for (const [path, problem] of refused) assert.match(reviewPathProblem(path) ?? '', problem, path);
  });
});
