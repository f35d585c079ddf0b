// The web app in Chromium against a real server (development mode, SQLite in a temp dir): two
// pages and a gRPC SDK client in one review. Concurrent typing converges everywhere; comments go
// both ways and move with the code; resolve hides a thread everywhere; the server restarts and the
// pages resume with what was typed while it was down, nothing lost or doubled. Controls are found
// by their accessible names, as a screen reader user would find them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { LiveReviewClient } from '../src/client/index.js';
import {
  editorText,
  focusEditor,
  launchBrowser,
  openReviewPage,
  statusOf,
  tabTo,
  textRepairs,
  waitForStatus,
  waitUntil,
} from './helpers/browser.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SESSION = 'web-review';
const FILE = 'main.ts';

describe('the web app: a live review in the browser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-web-'));
  let server: TestServer;
  let browser: Browser;
  let sdk: LiveReviewClient;
  let ann: Page;
  let bob: Page;
  const pageErrors: string[][] = [];
  let annContentTypes = new Set<string>();

  const url = (user: string) => `http://127.0.0.1:${server.httpPort}/review/${SESSION}?user=${user}`;

  /** Every page and the SDK show the same text, with nothing left to send. */
  async function converged(): Promise<string> {
    let seen: unknown;
    await waitUntil(
      async () => {
        const texts = [await editorText(ann), await editorText(bob), sdk.file(FILE)?.text];
        const statuses = [await statusOf(ann), await statusOf(bob)];
        seen = { texts, statuses, sdkSynced: sdk.synced };
        return sdk.synced && statuses.every((s) => s === 'Live') && texts.every((t) => t === texts[2]);
      },
      () => `pages and SDK to converge: ${JSON.stringify(seen)}`,
    );
    return sdk.file(FILE)!.text;
  }

  /** The thread with accessible name `name` ("Thread on line 2 by ann"). */
  const thread = (page: Page, name: string) => page.getByRole('article', { name, exact: true });

  before(async () => {
    server = await startTestServer({ data: dir, httpPort: 0, logLevel: 'warn' });
    browser = await launchBrowser();
    sdk = new LiveReviewClient({
      targets: [server.address],
      sessionId: SESSION,
      userId: 'sam',
      backoff: { baseDelayMs: 100, maxDelayMs: 1000 },
      circuitBreaker: { failureThreshold: 100 },
    });
    await sdk.connect();
    await sdk.openReview([
      { path: FILE, text: 'line one\nline two\n', base: { text: 'line one\n', change: 'modified' } },
      { path: 'added.py', text: 'print("hi")\n', base: { text: '', change: 'added' } },
    ]);
    for (const user of ['ann', 'bob']) {
      const { page, errors, contentTypes } = await openReviewPage(browser, url(user));
      pageErrors.push(errors);
      if (user === 'ann') annContentTypes = contentTypes;
      if (user === 'ann') ann = page;
      else bob = page;
    }
  });

  after(async () => {
    sdk?.close();
    await browser?.close();
    await server?.shutdown(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the files with their change against the base, and who is here', async () => {
    const files = ann.getByRole('navigation', { name: 'Files' });
    let listed: string[] = [];
    await waitUntil(
      async () =>
        (listed = (await files.getByRole('button').allTextContents()).sort()).join() ===
        'added.pyadded,main.tsmodified',
      () => `the file list: ${JSON.stringify(listed)}`,
    );
    assert.equal(await editorText(ann), 'line one\nline two\n');
    // The line the review adds against the base is marked.
    await waitUntil(
      async () => (await ann.locator('.cm-line.cm-changed-line').allTextContents()).join() === 'line two',
      () => 'line two marked as changed against the base',
    );
    // A file opened while the pages are live appears at once; choosing a file shows it.
    await sdk.openReview([{ path: 'docs/notes.md', text: '# Notes\n', base: { text: '', change: 'added' } }]);
    await files.getByRole('button', { name: /docs\/notes\.md/ }).click();
    await waitUntil(
      async () => (await editorText(ann)) === '# Notes\n',
      () => 'docs/notes.md in the editor',
    );
    await ann.getByRole('textbox', { name: 'docs/notes.md', exact: true }).waitFor();
    await files.getByRole('button', { name: /main\.ts/ }).click();
    await waitUntil(
      async () => (await editorText(ann)) === 'line one\nline two\n',
      () => 'main.ts in the editor',
    );
    // By default the page speaks Connect, binary: a streaming Subscribe and unary Submits.
    assert.deepEqual([...annContentTypes].sort(), ['application/connect+proto', 'application/proto']);
    const people = ann.getByRole('list', { name: 'Participants' });
    await waitUntil(
      async () =>
        /bob \(active\)/.test((await people.textContent()) ?? '') &&
        /sam/.test((await people.textContent()) ?? ''),
      () => 'bob and sam in ann’s participant list',
    );
    // Bob's cursor is drawn in Ann's editor with his name.
    await focusEditor(bob, FILE, 'end');
    await ann.getByRole('img', { name: "bob's cursor" }).waitFor();
  });

  it('concurrent typing in two pages and from the SDK converges to the same text everywhere', async () => {
    const sdkTyping = async () => {
      for (let i = 1; i <= 5; i++) {
        const text = sdk.file(FILE)!.text;
        sdk.edit(FILE, [text.indexOf('\n'), `S${i}`]); // at the end of line 1
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    };
    const typeIn = async (page: Page, where: 'start' | 'end', text: string) => {
      await focusEditor(page, FILE, where);
      await page.keyboard.type(text, { delay: 15 });
    };
    await Promise.all([typeIn(ann, 'start', 'A1A2A3 '), typeIn(bob, 'end', 'B1B2B3\n'), sdkTyping()]);
    assert.equal(await converged(), 'A1A2A3 line oneS1S2S3S4S5\nline two\nB1B2B3\n');

    // Both at the same place at once: the keystrokes may interleave, but each page's stay in order
    // and none is lost, doubled or different anywhere.
    await Promise.all([typeIn(ann, 'end', 'abcdefghij'), typeIn(bob, 'end', 'KLMNOPQRST')]);
    const tail = (await converged()).slice('A1A2A3 line oneS1S2S3S4S5\nline two\nB1B2B3\n'.length);
    assert.equal(tail.length, 20, tail);
    assert.equal(tail.replace(/[^a-z]/g, ''), 'abcdefghij');
    assert.equal(tail.replace(/[^A-Z]/g, ''), 'KLMNOPQRST');
    // Back to the text the next steps expect.
    sdk.edit(FILE, [sdk.file(FILE)!.text.length - 20, { d: 20 }]);
    await converged();
  });

  it('a remote edit keeps the local selection on the same text', async () => {
    const files = ann.getByRole('navigation', { name: 'Files' });
    await files.getByRole('button', { name: /added\.py/ }).click();
    await focusEditor(ann, 'added.py', 'start');
    await ann.keyboard.press('Shift+End'); // selects print("hi")
    sdk.edit('added.py', ['# top\n']);
    await waitUntil(
      async () => (await editorText(ann)).startsWith('# top\n'),
      () => 'the SDK’s line in ann’s page',
    );
    await ann.keyboard.type('Z'); // replaces the selection, wherever it moved
    await waitUntil(
      () => sdk.file('added.py')?.text === '# top\nZ\n',
      () => `added.py at the SDK: ${JSON.stringify(sdk.file('added.py')?.text)}`,
    );
    await files.getByRole('button', { name: /main\.ts/ }).click();
  });

  it('counts in code points as the wire does: text beyond the BMP lands in the same place everywhere', async () => {
    const before = await converged();
    sdk.edit(FILE, ['🚀 ']);
    await waitUntil(
      async () => (await editorText(ann)).startsWith('🚀 '),
      () => 'the rocket in ann’s page',
    );
    await focusEditor(ann, FILE, 'start');
    await ann.keyboard.press('ArrowRight'); // over the rocket (two UTF-16 units, one code point)
    await ann.keyboard.press('ArrowRight');
    await ann.keyboard.type('x');
    await waitUntil(
      () => sdk.file(FILE)!.text.startsWith('🚀 x'),
      () => 'ann’s x after the rocket at the SDK',
    );
    sdk.edit(FILE, [3, 'y']); // after three code points: '🚀', ' ', 'x'
    assert.equal(await converged(), `🚀 xy${before}`);
    sdk.edit(FILE, [{ d: 4 }]);
    assert.equal(await converged(), before);
    for (const page of [ann, bob]) assert.equal(await textRepairs(page), 0);
  });

  it('comments go from a page to the SDK and the other page, and back; threads move with the code', async () => {
    // Ann comments on line 2 (her cursor's line), with the keyboard only: Tab leaves the editor.
    await focusEditor(ann, FILE, 'start');
    await ann.keyboard.press('ArrowDown');
    await tabTo(ann, ann.getByLabel('Comment', { exact: true }));
    await ann.keyboard.type('Needs a test');
    await tabTo(ann, ann.getByRole('button', { name: 'Add comment' }));
    await ann.keyboard.press('Enter');
    await waitUntil(
      () => sdk.comments().some((c) => c.text === 'Needs a test' && c.authorId === 'ann' && c.line === 2),
      () => `ann's comment at the SDK: ${JSON.stringify(sdk.comments())}`,
    );
    await thread(bob, 'Thread on line 2 by ann').getByText('Needs a test').waitFor();

    // The SDK comments on line 1: both pages show it without a reload.
    await sdk.comment(FILE, 1, 'From the SDK');
    for (const page of [ann, bob])
      await thread(page, 'Thread on line 1 by sam').getByText('From the SDK').waitFor();

    // A line inserted above: both threads move down on every page.
    sdk.edit(FILE, ['// header\n']);
    for (const page of [ann, bob]) {
      await thread(page, 'Thread on line 2 by sam').waitFor();
      await thread(page, 'Thread on line 3 by ann').waitFor();
    }
    await converged();

    // Bob replies to the SDK's thread.
    const samThread = thread(bob, 'Thread on line 2 by sam');
    await samThread.getByLabel('Reply').fill('Agreed');
    await samThread.getByRole('button', { name: 'Reply', exact: true }).click();
    const root = sdk.comments().find((c) => c.text === 'From the SDK')!;
    await waitUntil(
      () => sdk.comments().some((c) => c.parentId === root.id && c.text === 'Agreed' && c.authorId === 'bob'),
      () => 'bob’s reply at the SDK',
    );
    await thread(ann, 'Thread on line 2 by sam').getByText('Agreed').waitFor();
  });

  it('resolving a thread (from the keyboard) hides it everywhere; it can be shown again', async () => {
    const resolve = thread(ann, 'Thread on line 3 by ann').getByRole('button', { name: 'Resolve' });
    await resolve.focus();
    await ann.keyboard.press('Enter');
    await waitUntil(
      () => sdk.comments().find((c) => c.text === 'Needs a test')?.state === 'resolved',
      () => 'the thread resolved at the SDK',
    );
    for (const page of [ann, bob]) {
      await thread(page, 'Thread on line 3 by ann').waitFor({ state: 'detached' });
      assert.equal(await thread(page, 'Thread on line 2 by sam').count(), 1);
    }
    await bob.getByLabel('Show resolved').check();
    const shown = thread(bob, 'Thread on line 3 by ann');
    await shown.getByText('Resolved', { exact: true }).waitFor();
    assert.equal(await shown.getByRole('button', { name: 'Reopen' }).count(), 1);
  });

  it('a suggestion from the SDK is applied from a page; verdicts and viewed marks show live', async () => {
    const text = await converged();
    const line = text.split('\n').indexOf('line two') + 1;
    await sdk.suggest(FILE, line, line, ['line 2'], 'Numbers read better');
    const suggestion = thread(ann, `Thread on line ${line} by sam`);
    await suggestion.getByRole('group', { name: 'Suggested change (pending)' }).waitFor();
    await suggestion.getByRole('button', { name: 'Apply suggestion' }).click();
    assert.equal(await converged(), text.replace('line two', 'line 2'));
    await thread(ann, `Thread on line ${line} by sam`).waitFor({ state: 'detached' }); // applied: resolved

    await bob.getByLabel('Verdict message (optional)').fill('Ship it');
    await bob.getByRole('button', { name: 'Approve' }).click();
    await waitUntil(
      () =>
        sdk
          .verdicts()
          .some((v) => v.reviewer === 'bob' && v.verdict === 'approve' && v.message === 'Ship it'),
      () => 'bob’s verdict at the SDK',
    );
    const review = ann.getByRole('region', { name: 'Review' });
    await review.getByText('bob approved: Ship it').waitFor();
    await review.getByText(/^Approved/).waitFor();

    // A thread whose line is deleted is shown outdated, with the line it was about.
    await sdk.comment(FILE, 1, 'About this header');
    const firstLine = sdk.file(FILE)!.text.split('\n')[0]!;
    sdk.edit(FILE, [{ d: firstLine.length + 1 }]);
    const outdated = ann.getByRole('article', { name: /by sam$/ }).filter({ hasText: 'About this header' });
    await outdated.getByText('Outdated', { exact: true }).waitFor();
    await outdated.getByText(`was: ${firstLine}`).waitFor();

    await bob.getByLabel('Viewed').check();
    await waitUntil(
      () => sdk.isViewed(FILE, 'bob'),
      () => 'bob’s viewed mark at the SDK',
    );
  });

  it('after a server restart the pages resume with their offline edits, nothing lost or doubled', async () => {
    const before = await converged();
    const { port, httpPort } = server;
    await server.shutdown(500);
    for (const page of [ann, bob]) await waitForStatus(page, /^(Reconnecting|Connecting)/);

    // Typed while the server is down.
    await focusEditor(ann, FILE, 'start');
    await ann.keyboard.type('offA ', { delay: 10 });
    await focusEditor(bob, FILE, 'end');
    await bob.keyboard.type('offB\n', { delay: 10 });
    const sdkText = sdk.file(FILE)!.text;
    sdk.edit(FILE, [sdkText.indexOf('\n'), 'offS']);
    for (const page of [ann, bob]) await waitForStatus(page, /queued change/);
    // A comment written offline waits, shown as such, and is sent when the server is back.
    await focusEditor(bob, FILE, 'start');
    await bob.getByLabel('Comment', { exact: true }).fill('Written offline');
    await bob.getByRole('button', { name: 'Add comment' }).click();
    await bob
      .getByRole('list', { name: 'Waiting to be sent' })
      .getByText(/Written offline \(waiting for the server\)/)
      .waitFor();

    server = await startTestServer({ data: dir, port, httpPort, logLevel: 'warn' });
    const firstLineEnd = before.indexOf('\n');
    const expected = `offA ${before.slice(0, firstLineEnd)}offS${before.slice(firstLineEnd)}offB\n`;
    assert.equal(await converged(), expected);
    await ann
      .getByRole('article', { name: 'Thread on line 1 by bob' })
      .filter({ hasText: 'Written offline' })
      .waitFor();
    assert.equal(await bob.getByRole('list', { name: 'Waiting to be sent' }).isVisible(), false);
    // And what the server has is the same: a newcomer opens the review from the start page and
    // loads it from a snapshot.
    const late = await (await browser.newContext()).newPage();
    await late.goto(`http://127.0.0.1:${server.httpPort}/`);
    await late.getByLabel('Session id').fill(SESSION);
    await late.getByLabel('Your name (development mode)').fill('late');
    await late.getByRole('button', { name: 'Open review' }).click();
    await waitForStatus(late, /^Live$/);
    assert.equal(await editorText(late), expected);
    assert.deepEqual(pageErrors.flat(), []);
    for (const page of [ann, bob]) assert.equal(await textRepairs(page), 0);
  });
});
