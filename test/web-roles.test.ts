// The web app with authentication on: the page takes a bearer token from the URL fragment (and
// takes it out of the address bar) or pasted into the page, and shows what the token's role
// allows. A viewer watches: the editor is read-only and nothing typed reaches anyone. A reviewer
// comments but does not edit. Live edits reach both. The viewer's page speaks gRPC-Web and the
// reviewer's Connect with JSON (`?protocol=`), so every protocol of the transport runs in Chromium.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { LiveReviewClient } from '../src/client/index.js';
import { mintToken } from '../src/security/tokens.js';
import {
  editorText,
  launchBrowser,
  openReviewPage,
  statusOf,
  waitForStatus,
  waitUntil,
} from './helpers/browser.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256-0123456789';
const SESSION = 'web-roles';
const FILE = 'app.js';

const mint = (user: string, role: 'author' | 'reviewer' | 'viewer') =>
  mintToken({
    secret: SECRET,
    userId: user,
    sessions: { [SESSION]: role },
    ttlSeconds: 600,
    issuer: 'livereview',
    audience: 'livereview',
  });

describe('the web app with authentication: roles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lr-web-roles-'));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, SECRET);
  let server: TestServer;
  let browser: Browser;
  let author: LiveReviewClient;

  const reviewUrl = () => `http://127.0.0.1:${server.httpPort}/review/${SESSION}`;

  before(async () => {
    // Quiet for a second is idle here, so the page can show someone going idle.
    server = await startTestServer({
      authSecretFile: secretFile,
      httpPort: 0,
      idleAfterMs: 1000,
      logLevel: 'warn',
    });
    browser = await launchBrowser();
    author = new LiveReviewClient({
      targets: [server.address],
      sessionId: SESSION,
      userId: 'ann',
      token: await mint('ann', 'author'),
    });
    await author.connect();
    await author.openReview([{ path: FILE, text: 'let total = 0;\n' }]);
  });

  after(async () => {
    author?.close();
    await browser?.close();
    await server?.shutdown(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a viewer's page (token in the URL fragment) shows live edits and cannot edit or comment", async () => {
    const { page, errors, contentTypes } = await openReviewPage(
      browser,
      `${reviewUrl()}?protocol=grpc-web#token=${await mint('vic', 'viewer')}`,
    );
    assert.doesNotMatch(page.url(), /token=/, 'the token is taken out of the address bar');
    assert.deepEqual([...contentTypes], ['application/grpc-web+proto']);
    const editor = page.getByRole('textbox', { name: `${FILE} (read-only)`, exact: true });
    assert.equal(await editor.getAttribute('contenteditable'), 'false');
    assert.equal(await page.getByRole('button', { name: 'Add comment' }).count(), 0);

    // Typing into it changes nothing, here or anywhere.
    await editor.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('viewer was here');
    author.edit(FILE, ['// by ann\n']);
    await waitUntil(
      async () => (await editorText(page)) === '// by ann\nlet total = 0;\n',
      () => 'the author’s edit in the viewer’s page',
    );
    assert.equal(await statusOf(page), 'Live');
    assert.equal(author.file(FILE)!.text, '// by ann\nlet total = 0;\n');

    // Who is here: Ann, active while she types, then idle once quiet.
    const people = page.getByRole('list', { name: 'Participants' });
    await people.getByText('ann (idle)').waitFor();
    author.edit(FILE, ['// back\n']);
    await people.getByText('ann (active)').waitFor();
    assert.deepEqual(errors, []);
  });

  it('a reviewer pastes a token once, comments, and cannot edit', async () => {
    const { page: first } = await (async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${reviewUrl()}?user=rita&protocol=connect-json`);
      return { page };
    })();
    // No token: the server refuses, and the page asks for one.
    await first.getByLabel('Bearer token').fill(await mint('rita', 'reviewer'));
    await first.getByRole('button', { name: 'Use token' }).click();
    await waitForStatus(first, /^Live$/);
    const editor = first.getByRole('textbox', { name: `${FILE} (read-only)`, exact: true });
    assert.equal(await editor.getAttribute('contenteditable'), 'false');

    await first.getByLabel('Comment', { exact: true }).fill('Why start at zero?');
    await first.getByRole('button', { name: 'Add comment' }).click();
    await waitUntil(
      () => author.comments().some((c) => c.authorId === 'rita' && c.text === 'Why start at zero?'),
      () => 'the reviewer’s comment at the author',
    );
    await first.getByRole('article', { name: /by rita$/ }).waitFor();
  });
});
