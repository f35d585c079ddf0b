// Many reviews open in one browser. An open review holds its Subscribe call for as long as it is
// open, and a browser keeps at most six HTTP/1.1 connections to one origin: over HTTP/1.1 a
// seventh review tab in the same profile never loaded, and the open ones could not submit. Over
// TLS the HTTP edge speaks HTTP/2 (src/transport/http/edge-server.ts), so one connection carries
// every tab's calls; clients without HTTP/2 still get HTTP/1.1.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { BrowserContext, Page } from 'playwright-core';
import { LiveReviewClient } from '../src/client/index.js';
import { editorText, focusEditor, launchBrowser, waitForStatus, waitUntil } from './helpers/browser.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { startTestServer } from './helpers/server.js';

const SESSION = 'many-tabs';
const FILE = 'main.ts';
const TABS = 10;

/** A server (over TLS with `certs`) whose review an SDK client opened, and a browser. */
async function startReview(certs?: TestCerts) {
  const server = await startTestServer({
    httpPort: 0,
    logLevel: 'warn',
    ...(certs ? { tlsCertFile: certs.file('server.crt'), tlsKeyFile: certs.file('server.key') } : {}),
  });
  const sdk = new LiveReviewClient({
    targets: [server.address],
    sessionId: SESSION,
    userId: 'sam',
    ...(certs ? { credentials: grpc.credentials.createSsl(certs.pem('ca.crt')) } : {}),
  });
  await sdk.connect();
  await sdk.openReview([{ path: FILE, text: 'hello\n' }]);
  const browser = await launchBrowser();
  const stop = async () => {
    await browser.close();
    sdk.close();
    await server.shutdown(500);
  };
  return { server, sdk, browser, stop };
}

/** Opens TABS tabs of the review in one browser context (one profile: one connection pool), each
 * live before the next is opened; `opened` runs for each once it is. */
async function openTabs(context: BrowserContext, origin: string, opened?: (page: Page) => Promise<void>) {
  const pages: Page[] = [];
  for (let i = 0; i < TABS; i++) {
    const page = await context.newPage();
    await page.goto(`${origin}/review/${SESSION}?user=tab${i}`, { timeout: 20_000 });
    await waitForStatus(page, /^Live$/);
    pages.push(page);
    await opened?.(page);
  }
  return pages;
}

describe('the web app: many review tabs in one browser', () => {
  let certs: TestCerts;
  let review: Awaited<ReturnType<typeof startReview>>;

  before(async () => {
    certs = makeCerts();
    review = await startReview(certs);
  });
  after(async () => {
    await review?.stop();
    certs?.remove();
  });

  it(`over TLS, ${TABS} tabs of one profile load, go live and see each other's edits, over HTTP/2`, async () => {
    // One context: one profile, one connection pool (the test's certificate authority is not the
    // browser's, hence ignoreHTTPSErrors; the protocol is negotiated all the same).
    const { server, sdk, browser } = review;
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const pages = await openTabs(context, `https://127.0.0.1:${server.httpPort}`);
    const protocols = await Promise.all(
      pages.map((p) =>
        p.evaluate(() => {
          // Runs in the page (the test's types have no DOM).
          const timing = performance as unknown as {
            getEntriesByType(type: string): { nextHopProtocol: string }[];
          };
          return timing.getEntriesByType('navigation')[0]!.nextHopProtocol;
        }),
      ),
    );
    assert.deepEqual(new Set(protocols), new Set(['h2']));
    await waitUntil(
      () => sdk.participants().length === TABS + 1,
      () => `every tab in the roster: ${sdk.participants().length} of ${TABS + 1}`,
    );

    // The last tab types; the SDK and the first tab see it.
    const last = pages.at(-1)!;
    await focusEditor(last, FILE, 'end');
    await last.keyboard.type('seen');
    await waitUntil(
      () => sdk.file(FILE)?.text === 'hello\nseen',
      () => `the last tab's edit at the SDK: ${JSON.stringify(sdk.file(FILE)?.text)}`,
    );
    let first = '';
    await waitUntil(
      async () => (first = await editorText(pages[0]!)) === 'hello\nseen',
      () => `the last tab's edit in the first tab: ${JSON.stringify(first)}`,
    );
    await context.close();
  });

  it("bounds the calls one HTTP/2 connection may hold open at the gRPC port's limit", async () => {
    const { connect } = await import('node:http2');
    const session = connect(`https://127.0.0.1:${review.server.httpPort}`, { ca: certs.pem('ca.crt') });
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
      });
      assert.equal(settings.maxConcurrentStreams, 100);
    } finally {
      session.destroy();
    }
  });

  it('answers HTTP/1.1 clients on the same port', async () => {
    const { request } = await import('node:https');
    const body = await new Promise<{ status: number; version: string; text: string }>((resolve, reject) => {
      request(
        `https://127.0.0.1:${review.server.httpPort}/codereview.v1.CodeReviewService/GetSession`,
        {
          method: 'POST',
          ca: certs.pem('ca.crt'),
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion, text }));
        },
      )
        .on('error', reject)
        .end(JSON.stringify({ sessionId: SESSION }));
    });
    assert.equal(body.version, '1.1');
    assert.equal(body.status, 200, body.text);
    assert.match(body.text, /"main\.ts"/);
  });
});

describe('the web app: many review tabs in one browser over plaintext HTTP/1.1', () => {
  let review: Awaited<ReturnType<typeof startReview>>;

  before(async () => {
    review = await startReview();
  });
  after(async () => {
    await review?.stop();
  });

  /** What the browser tells a page when its tab goes to the background or comes back (headless
   * Chromium shows every page; the page only reads `document.hidden` and the event). */
  const setHidden = (page: Page, hidden: boolean) =>
    page.evaluate((h) => {
      const doc = (globalThis as unknown as { document: object & { dispatchEvent(e: unknown): void } })
        .document;
      Object.defineProperty(doc, 'hidden', { configurable: true, get: () => h });
      Object.defineProperty(doc, 'visibilityState', {
        configurable: true,
        get: () => (h ? 'hidden' : 'visible'),
      });
      doc.dispatchEvent(new Event('visibilitychange'));
    }, hidden);

  it(`hidden tabs give their connection back: ${TABS} tabs of one profile load; a tab shown again catches up`, async () => {
    const { server, sdk, browser } = review;
    const context = await browser.newContext();
    // The user opens each tab over the one before: that one is hidden.
    const pages = await openTabs(context, `http://127.0.0.1:${server.httpPort}`, (page) =>
      setHidden(page, true),
    );
    const first = pages[0]!;
    await waitForStatus(first, /^Paused while hidden$/);

    // Meanwhile someone edits; the first tab, shown again, joins again and shows it.
    sdk.editLine(FILE, 1, 'hello, tabs');
    await waitUntil(
      () => sdk.synced,
      () => 'the edit acknowledged',
    );
    await setHidden(first, false);
    await waitForStatus(first, /^Live$/);
    let text = '';
    await waitUntil(
      async () => (text = await editorText(first)) === 'hello, tabs\n',
      () => `the edit made while paused, in the tab shown again: ${JSON.stringify(text)}`,
    );
    // And it can edit again.
    await focusEditor(first, FILE, 'end');
    await first.keyboard.type('back');
    await waitUntil(
      () => sdk.file(FILE)?.text === 'hello, tabs\nback',
      () => `the shown tab's edit at the SDK: ${JSON.stringify(sdk.file(FILE)?.text)}`,
    );
    await context.close();
  });
});
