// Exporting a whole review: a scripted review (files, threads with replies, a resolved and an
// outdated thread, applied, conflicting and pending suggestions, verdicts) rendered to Markdown
// for a pull request and to JSON, compared with the expected exports checked in under
// test/fixtures (they are the spec). The Markdown is also parsed as GitHub Flavored Markdown to
// check that nothing a user wrote changes its structure.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { micromark } from 'micromark';
import { gfm, gfmHtml } from 'micromark-extension-gfm';
import { renderReviewJson, renderReviewMarkdown, reviewExportDocument } from '../src/review/export.js';
import { blockText, code, fenced, inlineText, quote, table } from '../src/review/markdown.js';
import type { ReviewExport } from '../src/review/model.js';

const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../../test/fixtures/${name}`, import.meta.url)), 'utf8');

const html = (markdown: string): string =>
  micromark(markdown, { extensions: [gfm()], htmlExtensions: [gfmHtml()] });

const CART_BASE = [
  'export function total(items: Item[]): number {',
  '  let sum = 0;',
  '  for (const item of items) sum += item.price;',
  '  return sum;',
  '}',
  '',
].join('\n');
const CART_HEAD = [
  'export function total(items: Item[]): number {',
  '  let sum = 0;',
  '  for (const item of items) sum += item.price * item.quantity;',
  '  return Math.round(sum * 100) / 100;',
  '}',
  '',
].join('\n');

const t = (minute: number): string => `2026-12-02T10:${String(minute).padStart(2, '0')}:00.000Z`;

/** The review, in no particular order: the export sorts it. */
function scriptedReview(): ReviewExport {
  return {
    sessionId: 'cart-review',
    exportedAt: '2026-12-02T11:00:00.000Z',
    headSequence: 57,
    files: [
      {
        path: 'src/util.ts',
        previousPath: 'src/helpers.ts',
        baseText: 'export const id = (x) => x;\n',
        headText: 'export const id = <T>(x: T): T => x;\n',
        version: 1,
        viewedBy: [],
      },
      {
        path: 'src/cart.ts',
        baseText: CART_BASE,
        headText: CART_HEAD,
        version: 7,
        viewedBy: [{ userId: 'bob', at: t(40) }],
      },
      {
        path: 'src/legacy.ts',
        change: 'deleted',
        baseText: 'export const legacy = true;\n',
        headText: '',
        version: 0,
        viewedBy: [
          { userId: 'carol', at: t(31) },
          { userId: 'bob', at: t(30) },
        ],
      },
      {
        path: 'docs/notes.md',
        baseText: '',
        headText: '# Notes\n\nUse `total()` | not `sum()`:\n\n```ts\ntotal(items);\n```\n',
        version: 0,
        viewedBy: [{ userId: 'bob', at: t(41) }],
      },
    ],
    threads: [
      {
        id: 't2',
        path: 'src/cart.ts',
        side: 'head',
        line: 4,
        originalLineText: '  return sum;',
        state: 'open',
        outdated: false,
        author: 'bob',
        createdAt: t(12),
        updatedAt: t(12),
        text: 'Rounding in dollars hides errors; keep integer cents?',
        replies: [
          {
            id: 't2-r2',
            author: 'carol',
            createdAt: t(16),
            updatedAt: t(16),
            text: 'Agree with Bob.\n\n- cents everywhere\n# not a heading\n1. nor a list\n    nor code',
          },
          {
            id: 't2-r1',
            author: 'alice',
            createdAt: t(14),
            updatedAt: t(15),
            text: "I'd rather keep dollars for now.",
          },
        ],
        suggestion: {
          startLine: 4,
          endLine: 4,
          originalText: '  return sum;\n',
          replacement: '  return sum / 100;\n',
          status: 'conflicting',
          conflict: 'the lines of the suggestion were edited since it was made',
        },
      },
      {
        id: 't1',
        path: 'src/cart.ts',
        side: 'head',
        line: 3,
        originalLineText: '  for (const item of items) sum += item.price;',
        state: 'resolved',
        outdated: false,
        resolvedBy: 'alice',
        resolvedAt: t(11),
        author: 'carol',
        createdAt: t(5),
        updatedAt: t(5),
        text: 'Quantity is ignored here | this is a *bug*.\nSee <https://example.com/issue?a=1&b=2>.',
        replies: [
          { id: 't1-r1', author: 'alice', createdAt: t(10), updatedAt: t(10), text: 'Good catch: applied.' },
        ],
        suggestion: {
          startLine: 3,
          endLine: 3,
          originalText: '  for (const item of items) sum += item.price;\n',
          replacement: '  for (const item of items) sum += item.price * item.quantity;\n',
          status: 'applied',
          appliedBy: 'alice',
          appliedAt: t(9),
        },
      },
      {
        id: 't4',
        path: 'src/cart.ts',
        side: 'head',
        line: 3,
        originalLineText: '  console.log(items);',
        state: 'open',
        outdated: true,
        author: 'bob',
        createdAt: t(3),
        updatedAt: t(3),
        text: 'Remove the debug log before merging.',
        replies: [],
      },
      {
        id: 't3',
        path: 'src/legacy.ts',
        side: 'base',
        line: 1,
        originalLineText: 'export const legacy = true;',
        state: 'open',
        outdated: false,
        author: 'carol',
        createdAt: t(20),
        updatedAt: t(20),
        text: 'Is anything still importing `legacy`? <script>alert(1)</script>',
        replies: [],
      },
      {
        id: 't5',
        path: 'docs/notes.md',
        side: 'head',
        line: 3,
        originalLineText: 'Use `total()` | not `sum()`:',
        state: 'open',
        outdated: false,
        author: 'bob',
        createdAt: t(42),
        updatedAt: t(42),
        text: 'Say why, in two lines:',
        replies: [],
        suggestion: {
          startLine: 3,
          endLine: 3,
          originalText: 'Use `total()` | not `sum()`:\n',
          replacement: 'Use `total()`, not `sum()`:\nit counts quantities.\n',
          status: 'pending',
        },
      },
    ],
    verdicts: [
      { reviewer: 'carol', verdict: 'request_changes', at: t(55), message: 'Cents first | then ship.' },
      { reviewer: 'bob', verdict: 'comment', at: t(20) },
      { reviewer: 'bob', verdict: 'approve', at: t(50), message: 'Looks good.' },
    ],
    participants: [
      { userId: 'carol', displayName: 'Carol', roles: ['reviewer'] },
      { userId: 'alice', displayName: 'Alice Author', roles: ['author'] },
      { userId: 'bob', displayName: 'Bob <b>Reviewer</b>', roles: ['reviewer'] },
      { userId: 'dave', displayName: 'dave' },
    ],
    timeline: [
      {
        sequence: 1,
        at: t(0),
        userId: 'alice',
        kind: 'review_opened',
        summary: 'opened the review with 4 files',
      },
      {
        sequence: 6,
        at: t(3),
        userId: 'bob',
        kind: 'comment',
        path: 'src/cart.ts',
        summary: 'commented on line 3',
      },
      {
        sequence: 9,
        at: t(5),
        userId: 'carol',
        kind: 'comment',
        path: 'src/cart.ts',
        summary: 'suggested a change to line 3',
      },
      {
        sequence: 12,
        at: t(8),
        userId: 'alice',
        kind: 'edit',
        path: 'src/cart.ts',
        summary: 'edited lines 3-4 (5 edits)',
      },
      {
        sequence: 14,
        at: t(9),
        userId: 'alice',
        kind: 'suggestion_applied',
        path: 'src/cart.ts',
        summary: 'applied the suggestion of t1',
      },
      {
        sequence: 17,
        at: t(11),
        userId: 'alice',
        kind: 'resolved',
        path: 'src/cart.ts',
        summary: 'resolved t1',
      },
      { sequence: 21, at: t(20), userId: 'bob', kind: 'verdict', summary: 'commented | no verdict' },
      { sequence: 40, at: t(50), userId: 'bob', kind: 'verdict', summary: 'approved' },
      { sequence: 57, at: t(55), userId: 'carol', kind: 'verdict', summary: 'requested changes' },
    ],
  };
}

describe('review export', () => {
  it('renders the scripted review as the expected Markdown', () => {
    assert.equal(renderReviewMarkdown(scriptedReview()), fixture('review-export.md'));
  });

  it('renders the scripted review as the expected JSON', () => {
    const json = renderReviewJson(scriptedReview());
    assert.equal(json, fixture('review-export.json'));
    assert.deepEqual(JSON.parse(json), reviewExportDocument(scriptedReview()));
  });

  it('renders the same whatever order the review lists things in', () => {
    const reversed = scriptedReview();
    for (const list of [
      reversed.files,
      reversed.threads,
      reversed.verdicts,
      reversed.participants,
      reversed.timeline,
    ])
      list.reverse();
    assert.equal(renderReviewMarkdown(reversed), fixture('review-export.md'));
    assert.equal(renderReviewJson(reversed), fixture('review-export.json'));
  });

  it('keeps what users wrote as text: no markup from a comment reaches the rendered page', () => {
    const page = html(renderReviewMarkdown(scriptedReview()));
    assert.ok(!page.includes('<script>'), 'raw HTML from a comment');
    assert.ok(!page.includes('<b>'), 'raw HTML from a display name');
    assert.ok(!page.includes('<em>'), 'emphasis from a comment');
    assert.ok(!page.includes('<a '), 'a link from a comment');
    // Comments are quoted paragraphs of text with line breaks, nothing else.
    for (const quoted of page.matchAll(/<blockquote>([\s\S]*?)<\/blockquote>/g)) {
      const tags = new Set([...quoted[1]!.matchAll(/<\/?([a-z]+)/g)].map((m) => m[1]));
      assert.deepEqual(
        [...tags].filter((x) => x !== 'p' && x !== 'br'),
        [],
        quoted[1],
      );
    }
    assert.ok(page.includes('Is anything still importing `legacy`? &lt;script&gt;alert(1)&lt;/script&gt;'));
    // Headings are the export's own: the title, its sections, one per file and one per thread.
    const headings = [...page.matchAll(/<h(\d)>(.*?)<\/h\1>/g)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(headings, [
      '1 Review of session <code>cart-review</code>',
      '2 Summary',
      '2 Files',
      '3 <code>docs/notes.md</code>',
      '4 <code>t5</code> · line 3 · open',
      '3 <code>src/cart.ts</code>',
      '4 <code>t4</code> · line 3 · open · outdated',
      '4 <code>t1</code> · line 3 · resolved',
      '4 <code>t2</code> · line 4 · open',
      '3 <code>src/legacy.ts</code>',
      '4 <code>t3</code> · base line 1 · open',
      '3 <code>src/util.ts</code>',
      '2 Participants',
      '2 Timeline',
    ]);
    // Tables keep their columns although cells hold pipes.
    for (const rendered of page.matchAll(/<table>([\s\S]*?)<\/table>/g)) {
      const rows = [...rendered[1]!.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map(
        (r) => r[1]!.match(/<t[hd]/g)!.length,
      );
      assert.equal(new Set(rows).size, 1, `rows with different cell counts: ${rows.join(', ')}`);
    }
  });
});

describe('review export edge cases', () => {
  const empty: ReviewExport = {
    sessionId: 's',
    exportedAt: t(0),
    headSequence: 0,
    files: [],
    threads: [],
    verdicts: [],
    participants: [],
    timeline: [],
  };
  const lines = (n: number): string => Array.from({ length: n }, (_, i) => `line ${i + 1}\n`).join('');

  it('says how far the verdicts are', () => {
    const outcome = (verdicts: ReviewExport['verdicts']): string =>
      renderReviewMarkdown({ ...empty, verdicts }).split('\n\n')[3]!;
    assert.equal(outcome([]), '**No verdicts yet.**');
    assert.equal(
      outcome([{ reviewer: 'bob', verdict: 'comment', at: t(1) }]),
      '**No approval yet**: `bob` commented without a verdict.',
    );
    assert.equal(
      outcome([
        { reviewer: 'bob', verdict: 'request_changes', at: t(1) },
        { reviewer: 'bob', verdict: 'approve', at: t(2) },
        { reviewer: 'carol', verdict: 'approve', at: t(3) },
      ]),
      '**Approved** by `bob`, `carol`.',
    );
  });

  it('notes files it does not show a diff of, and threads on files not in the review', () => {
    const file = { version: 0, viewedBy: [] };
    const markdown = renderReviewMarkdown(
      {
        ...empty,
        files: [
          { ...file, path: 'big.txt', baseText: lines(10), headText: lines(5000) },
          { ...file, path: 'long.txt', baseText: '', headText: lines(30) },
          { ...file, path: 'moved.txt', previousPath: 'old.txt', baseText: 'x\n', headText: 'x\n' },
          { ...file, path: 'same.txt', baseText: 'a\nb\nc\n', headText: 'a\nB\nc\n' },
        ],
        threads: [
          {
            id: 'gone',
            path: 'elsewhere.txt',
            side: 'head',
            line: 1,
            originalLineText: '',
            state: 'open',
            outdated: false,
            author: 'bob',
            createdAt: t(1),
            updatedAt: t(1),
            text: '  ',
            replies: [],
            suggestion: {
              startLine: 1,
              endLine: 2,
              originalText: 'a\nb\n',
              replacement: '',
              status: 'pending',
            },
          },
          {
            id: 'kept',
            path: 'same.txt',
            side: 'base',
            line: 3,
            originalLineText: 'c',
            state: 'open',
            outdated: false,
            author: 'bob',
            createdAt: t(1),
            updatedAt: t(1),
            text: 'Still here.',
            replies: [],
          },
        ],
      },
      { maxDiffLines: 20 },
    );
    assert.ok(markdown.includes('*Too large to diff: at least 4990 lines changed (the limit is 2000).*'));
    assert.ok(
      markdown.includes('*The diff has 31 lines, more than 20: left out here (the JSON export has it).*'),
    );
    assert.ok(
      markdown.includes(
        'Renamed from `old.txt` · +0 −0 · version 0 · not viewed yet\n\n*No change to its text.*',
      ),
    );
    assert.ok(markdown.includes('On base line 3, line 3 in the head: `c`.'));
    assert.ok(
      markdown.includes(
        '## Threads on other files\n\n### `elsewhere.txt`\n\n#### `gone` · line 1 · open\n\nOn line 1: an empty line.\n\n' +
          '**`bob`** wrote · 2026-12-02 10:01:00 UTC\n\n> *(empty)*\n\n' +
          'Suggested change for lines 1–2, deleting them, not applied yet:\n\n```suggestion\n```\n',
      ),
    );
    const json = reviewExportDocument({
      ...empty,
      files: [{ ...file, path: 'big.txt', baseText: lines(10), headText: lines(5000) }],
    });
    assert.deepEqual(json.files[0]!.diff, {
      status: 'too_large',
      message: 'too large to diff: at least 4990 lines changed (the limit is 2000)',
    });
  });
});

describe('review export markdown building blocks', () => {
  const HOSTILE = [
    '# heading',
    '=====',
    '- list',
    '+ list',
    '1. list',
    '2) list',
    '> quote',
    '    indented code',
    '\tindented code',
    '```',
    '~~~',
    '<div>html</div>',
    '<!-- comment -->',
    '[link](http://x) ![img](http://y)',
    '*em* **strong** _em_ ~~del~~ ~del~',
    '`code` ``code``',
    'a | b | c',
    '&amp; &copy; &#65;',
    'back\\slash\\',
    '$x^2$ math',
    'see http://example.com/a_b?c=1&d=2, www.example.com and bob@example.com',
    '***',
    '___',
    '| not | a | table |',
    '|---|---|',
    'snake_case_name and __init__',
  ];

  it('shows hostile plain text verbatim, in one quoted block, as text', () => {
    const text = HOSTILE.join('\n');
    const page = html(quote(blockText(text)));
    assert.match(page, /^<blockquote>\n<p>[\s\S]*<\/p>\n<\/blockquote>\n?$/);
    const inner = page.replace(/^<blockquote>\n<p>/, '').replace(/<\/p>\n<\/blockquote>\n?$/, '');
    assert.ok(!/<(?!br \/>)/.test(inner), `markup in: ${inner}`);
    const decoded = inner
      .replace(/<br \/>\n/g, '\n')
      .replace(/&nbsp;/g, ' ')
      .replace(/\u00a0/g, ' ')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&');
    assert.equal(decoded, text.replace(/\t/g, '    '));
  });

  it('keeps paragraphs apart and drops trailing spaces that would break lines', () => {
    assert.equal(blockText('one  \ntwo\n\n\n\nthree\r\nfour\n'), 'one\\\ntwo\n\nthree\\\nfour');
    assert.equal(blockText('  \n\n'), '');
  });

  it('makes a code span that holds any backticks, and escapes pipes only inside tables', () => {
    for (const text of ['plain', 'a`b', '`start', 'end`', '``double``', ' padded ', 'x | y']) {
      assert.equal(html(code(text)), `<p><code>${text.replace(/&/g, '&amp;')}</code></p>`, text);
    }
    const cells = html(table(['A', 'B'], [[code('x | y', true), inlineText('p | q')]]));
    assert.match(cells, /<td><code>x \| y<\/code><\/td>\n<td>p \| q<\/td>/);
  });

  it('fences code with more backticks than it holds', () => {
    const body = 'a\n ```\n````\nb\n';
    assert.equal(html(fenced(body, 'diff')), `<pre><code class="language-diff">${body}</code></pre>`);
    assert.equal(fenced('', 'suggestion'), '```suggestion\n```');
  });

  it('flattens a line break in an inline value', () => {
    assert.equal(inlineText('two\nlines\r\nhere'), 'two lines here');
    assert.equal(html(inlineText('# x\n- y')), '<p># x - y</p>');
  });
});
