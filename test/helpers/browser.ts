// The web app in a real browser for tests: Debian's Chromium driven by playwright-core (no browser
// download; scripts/install-chromium.sh installs it). Pages are read the way a user reads them:
// the editor's lines, the connection status, threads by their accessible names.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

/** Where Chromium is; LIVEREVIEW_CHROMIUM overrides. */
export const CHROMIUM = process.env.LIVEREVIEW_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: run scripts/install-chromium.sh (or set LIVEREVIEW_CHROMIUM)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-quic',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

/** Opens a review page in its own browser context (its own sessionStorage) and waits until it is
 * live. Page errors fail the test that reads `errors`; `contentTypes` are those of its calls. */
export async function openReviewPage(
  browser: Browser,
  url: string,
): Promise<{ page: Page; errors: string[]; contentTypes: Set<string> }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // What the page's calls to the service are encoded as (the protocol it speaks).
  const contentTypes = new Set<string>();
  page.on('request', (r) => {
    if (r.url().includes('/codereview.v1.CodeReviewService/'))
      contentTypes.add(r.headers()['content-type'] ?? '');
  });
  await page.goto(url);
  await waitForStatus(page, /^Live$/);
  return { page, errors, contentTypes };
}

/** The connection status the page shows (Live, Reconnecting · 3 queued changes, …). */
export async function statusOf(page: Page): Promise<string> {
  return (await page.getByRole('status').textContent()) ?? '';
}

export async function waitForStatus(page: Page, expected: RegExp, timeoutMs = 20_000): Promise<string> {
  let last = '';
  await waitUntil(
    async () => expected.test((last = await statusOf(page))),
    () => `status ${JSON.stringify(last)} to match ${expected}`,
    timeoutMs,
  );
  return last;
}

/** The text the editor shows: its lines, joined. (Remote cursors' names are drawn by CSS and are
 * not part of a line's text.) */
export async function editorText(page: Page): Promise<string> {
  const lines = await page.locator('.cm-content .cm-line').allTextContents();
  return lines.join('\n');
}

/** How often the page found its editor different from its SDK client after a remote edit (and
 * repaired it): 0 unless the edit mapping has a bug. */
export async function textRepairs(page: Page): Promise<number> {
  return Number((await page.locator('body').getAttribute('data-text-repairs')) ?? 0);
}

/** Puts the keyboard focus in the editor of `path` with the cursor at the start or the end. */
export async function focusEditor(page: Page, path: string, where: 'start' | 'end'): Promise<void> {
  await page.getByRole('textbox', { name: path, exact: true }).focus();
  await page.keyboard.press(where === 'start' ? 'Control+Home' : 'Control+End');
}

/** Presses Tab until `target` has the keyboard focus (at most `maxTabs` times): it is reachable from
 * the keyboard, in tab order, from where the focus is. */
export async function tabTo(page: Page, target: Locator, maxTabs = 20): Promise<void> {
  for (let i = 0; i < maxTabs; i++) {
    await page.keyboard.press('Tab');
    // Runs in the page: `e.ownerDocument` is its document (the test's types have no DOM).
    if (
      await target.evaluate(
        (e) => e === (e as { ownerDocument: { activeElement: unknown } }).ownerDocument.activeElement,
      )
    )
      return;
  }
  throw new Error(`not reached with ${maxTabs} Tab presses: ${target.toString()}`);
}

/** Polls `condition` until it holds; fails with `describe()` after `timeoutMs` (a deadline for
 * failing, not a measurement). */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  describe: () => string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
