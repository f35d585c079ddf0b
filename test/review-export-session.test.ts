// ExportReview of a review scripted through a real server (on a clock the test sets): files added,
// modified, deleted and renamed; threads on the head and on a removed base line, with replies; a
// suggestion applied, one made conflicting by an edit, one pending; a thread outdated by an edit; a
// thread resolved and reopened; verdicts changed over time; viewed marks, one reset by an edit; runs
// of edits. The Markdown and JSON exports are exactly the expected ones (test/fixtures), through
// the SDK and `livereview export`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { LiveReviewClient } from '../src/client/index.js';
import { systemClock, type Clock } from '../src/core/clock.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const bin = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));
const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../../test/fixtures/${name}`, import.meta.url)), 'utf8');

const CART_BASE = [
  'export function total(items) {',
  '  let sum = 0;',
  '  console.log(items);',
  '  for (const item of items) sum += item.price;',
  '  return sum;',
  '}',
  '',
].join('\n');
const CART_HEAD = CART_BASE.replace('  return sum;', '  return Math.round(sum * 100) / 100;');
const LEGACY = 'export const legacy = true;\nexport const old = 1;\n';
const NOTES = '# Notes\n\nUse `total()` | not `sum()`:\n';

/** A clock the test moves: minute m of 2026-12-02 10:00 UTC. */
let now = 0;
const at = (minute: number) => (now = Date.parse('2026-12-02T10:00:00.000Z') + minute * 60_000);
const clock: Clock = { ...systemClock, now: () => now };

describe('export of a scripted review', () => {
  let server: TestServer;
  const clients: LiveReviewClient[] = [];

  before(async () => {
    at(0);
    server = await startTestServer({ logLevel: 'warn' }, { clock });
    const join = async (userId: string, displayName: string) => {
      const c = new LiveReviewClient({
        targets: [server.address],
        sessionId: 'cart-review',
        userId,
        clientId: `${userId}-1`,
        displayName,
      });
      clients.push(c);
      await c.connect();
      return c;
    };
    const synced = (c: LiveReviewClient) =>
      new Promise<void>((resolve) => (c.synced ? resolve() : c.once('synced', () => resolve())));

    const ann = await join('ann', 'Ann Author');
    await ann.openReview([
      { path: 'src/cart.ts', text: CART_HEAD, base: { text: CART_BASE, change: 'modified' } },
      { path: 'src/legacy.ts', text: '', base: { text: LEGACY, change: 'deleted' } },
      { path: 'docs/notes.md', text: NOTES, base: { text: '', change: 'added' } },
      {
        path: 'src/util.ts',
        text: 'export const id = <T>(x: T): T => x;\n',
        base: { text: 'export const id = (x) => x;\n', previousPath: 'src/helpers.ts', change: 'renamed' },
      },
    ]);
    const bob = await join('bob', 'Bob <b>Reviewer</b>');
    const carol = await join('carol', 'Carol');

    at(2);
    const debug = await bob.comment('src/cart.ts', 3, 'Remove the debug log before merging.');
    at(5);
    const quantity = await carol.suggest(
      'src/cart.ts',
      4,
      4,
      ['  for (const item of items) sum += item.price * item.quantity;'],
      'Quantity is ignored here | this is a *bug*.',
    );
    at(6);
    const rounding = await bob.suggest(
      'src/cart.ts',
      5,
      5,
      '  return sum / 100;',
      'Rounding in dollars hides errors; keep integer cents?',
    );
    at(7);
    await ann.reply(rounding.commentId, "I'd rather keep dollars for now.");
    at(8);
    await carol.reply(rounding.commentId, 'Agree with Bob.\n\n- cents everywhere');
    at(9);
    await ann.applySuggestion(quantity.commentId);
    at(10);
    await ann.reply(quantity.commentId, 'Good catch: applied.');
    at(12);
    // Ann removes the debug line (its thread is outdated) and rewrites the rounding line in a few
    // keystrokes (the suggestion on it conflicts).
    ann.edit('src/cart.ts', [CART_BASE.indexOf('  console.log'), { d: '  console.log(items);\n'.length }]);
    await synced(ann);
    const text = () => ann.file('src/cart.ts')!.text;
    ann.edit('src/cart.ts', [text().indexOf('100) / 100'), { d: 3 }, '1000']);
    ann.edit('src/cart.ts', [text().indexOf('/ 100;') + 2, { d: 3 }, '1000']);
    await synced(ann);
    at(14);
    await bob.setVerdict('comment', 'A first look: see the threads.');
    at(20);
    const legacy = await carol.commentOnBase('src/legacy.ts', 1, 'Is anything still importing `legacy`?');
    at(21);
    await ann.resolve(legacy.commentId);
    at(22);
    await carol.reopen(legacy.commentId);
    at(30);
    await bob.markViewed('src/legacy.ts');
    await bob.markViewed('src/cart.ts');
    at(31);
    await carol.markViewed('src/legacy.ts');
    at(40);
    await bob.suggest(
      'docs/notes.md',
      3,
      3,
      ['Use `total()`, not `sum()`:', 'it counts quantities.'],
      'Say why.',
    );
    await bob.markViewed('docs/notes.md');
    at(45);
    await ann.resolve(debug.commentId);
    // Ann changes the cart again: Bob's mark on it no longer counts.
    ann.edit('src/cart.ts', ['// Totals in dollars.\n']);
    await synced(ann);
    at(50);
    await bob.setVerdict('approve', 'Looks good.');
    at(55);
    await carol.setVerdict('request_changes', 'Cents first | then ship.');
    at(60);
  });

  after(async () => {
    for (const c of clients) c.close();
    await server.shutdown(500);
  });

  it('renders the expected Markdown and JSON', async () => {
    const reader = clients[0]!;
    assert.equal(await reader.exportReview('markdown'), fixture('review-session-export.md'));
    const json = await reader.exportReview('json');
    assert.equal(json, fixture('review-session-export.json'));
    assert.equal(JSON.parse(json).summary.outcome, 'changes_requested');
  });

  it('is what `livereview export` prints', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      bin,
      'export',
      'cart-review',
      '--format',
      'json',
      '--target',
      server.address,
    ]);
    assert.equal(stdout, fixture('review-session-export.json'));
  });
});
