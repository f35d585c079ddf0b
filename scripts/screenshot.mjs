// Takes docs/web-app.png: the web app in Chromium during a live review with two people in pages
// and one on the SDK, with comments and cursors. Run after `npm run build && npm run build:web`:
//
//   node scripts/screenshot.mjs [out.png]
//
// It starts a server of its own (in memory, loopback ports); LIVEREVIEW_TARGET (host:port of gRPC)
// and LIVEREVIEW_WEB (the HTTP base URL) point it at a running one instead.
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = process.argv[2] ?? `${root}docs/web-app.png`;
const { LiveReviewClient } = await import(`${root}dist/src/client/index.js`);
// The same Chromium, flags and checks as the browser tests.
const { launchBrowser } = await import(`${root}dist/test/helpers/browser.js`);

let server;
let target = process.env.LIVEREVIEW_TARGET;
let web = process.env.LIVEREVIEW_WEB;
if (!target || !web) {
  const { startServer } = await import(`${root}dist/src/server/server.js`);
  const { defaultConfig } = await import(`${root}dist/src/server/config.js`);
  server = await startServer(
    { ...defaultConfig(), port: 0, httpPort: 0, metricsPort: -1, data: ':memory:', logLevel: 'warn' },
    {},
  );
  target = `127.0.0.1:${server.port}`;
  web = `http://127.0.0.1:${server.httpPort}`;
}

const session = `cart-review-${Date.now().toString(36)}`;
const head = `export interface Item {
  price: number;
  quantity: number;
}

/** The total of a cart, in cents. */
export function total(items: Item[]): number {
  let sum = 0;
  for (const item of items) {
    sum += item.price * item.quantity;
  }
  return sum;
}

export function formatTotal(cents: number): string {
  return (cents / 100).toFixed(2);
}
`;
const base = `export interface Item {
  price: number;
}

export function total(items: Item[]): number {
  let sum = 0;
  for (const item of items) sum += item.price;
  return sum;
}
`;

const carol = new LiveReviewClient({ targets: [target], sessionId: session, userId: 'carol' });
await carol.connect();
await carol.openReview([
  { path: 'src/cart.ts', text: head, base: { text: base, change: 'modified' } },
  {
    path: 'test/cart.test.ts',
    text: "import { total } from '../src/cart';\n",
    base: { text: '', change: 'added' },
  },
  { path: 'src/legacy-cart.js', text: '', base: { text: 'module.exports = {};\n', change: 'deleted' } },
]);

const browser = await launchBrowser();
const open = async (user) => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${web}/review/${session}?user=${user}`);
  await page
    .getByRole('status')
    .filter({ hasText: /^Live$/ })
    .waitFor();
  return page;
};
const ann = await open('ann');
const bob = await open('bob');

// Comments: one with a reply, one resolved (hidden), one from a page.
const { commentId } = await carol.comment('src/cart.ts', 10, 'Can quantity be negative here?');
await carol.comment('src/cart.ts', 16, 'Nit: use Intl.NumberFormat?').then((a) => carol.resolve(a.commentId));
await bob.getByRole('textbox', { name: 'src/cart.ts', exact: true }).focus();
await bob.keyboard.press('Control+Home');
for (let i = 0; i < 5; i++) await bob.keyboard.press('ArrowDown');
await bob.getByLabel('Comment', { exact: true }).fill('Cents as integers: good.');
await bob.getByRole('button', { name: 'Add comment' }).click();
await ann
  .getByRole('article', { name: 'Thread on line 10 by carol' })
  .getByLabel('Reply')
  .fill('No: the API validates it.');
await ann
  .getByRole('article', { name: 'Thread on line 10 by carol' })
  .getByRole('button', { name: 'Reply', exact: true })
  .click();
await ann
  .getByRole('article', { name: 'Thread on line 10 by carol' })
  .getByText('the API validates')
  .waitFor();
void commentId;
await bob.getByLabel('Verdict message (optional)').fill('Good once the thread is answered');
await bob.getByRole('button', { name: 'Request changes' }).click();
await ann.getByText('bob requested changes').waitFor();

// Cursors: Bob at the end of line 12 (typing), Carol in line 9; Ann in line 11.
await bob.getByRole('textbox', { name: 'src/cart.ts', exact: true }).focus();
await bob.keyboard.press('Control+Home');
for (let i = 0; i < 11; i++) await bob.keyboard.press('ArrowDown');
await bob.keyboard.press('End');
await bob.keyboard.type(' // overflow?');
carol.moveCursor('src/cart.ts', 9, 12);
await ann.getByRole('textbox', { name: 'src/cart.ts', exact: true }).focus();
await ann.keyboard.press('Control+Home');
for (let i = 0; i < 10; i++) await ann.keyboard.press('ArrowDown');
await ann.keyboard.press('End');
await ann.getByRole('img', { name: "bob's cursor" }).waitFor();
await ann.getByRole('img', { name: "carol's cursor" }).waitFor();
await ann.locator('.cm-line.cm-changed-line', { hasText: 'overflow?' }).waitFor();
await ann.locator('.side').evaluate((e) => e.scrollTo(0, 0));
await ann.screenshot({ path: out });
process.stdout.write(`wrote ${out}\n`);

await browser.close();
carol.close();
await server?.shutdown(500);
