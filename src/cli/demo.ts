// `livereview demo`: an embedded server, a review session and a few scripted reviewers, with the
// live traffic printed — the quickest way to see LiveReview work. Ctrl-C stops it cleanly.
import type { Command } from 'commander';
import { LiveReviewClient } from '../client/index.js';
import { lineRange } from '../ot/lines.js';
import { defaultConfig } from '../server/config.js';
import { startServer } from '../server/server.js';
import { printFile, printTraffic, stdoutPrinter as out } from './printer.js';

const SAMPLE = `export function total(items: Item[]): number {
  let sum = 0;
  for (const item of items) {
    sum += item.price;
  }
  return sum;
}
`;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Start an embedded server with scripted reviewers in one session and show the live traffic')
    .option('--port <n>', 'gRPC port (default: any free port)', '0')
    .option('--http-port <n>', 'HTTP port of the web app (0: any free port, -1: off)', '8080')
    .option('--run-for <ms>', 'stop after this many milliseconds (default: until Ctrl-C)')
    .action(async (o: { port: string; httpPort: string; runFor?: string }) => {
      const server = await startServer({
        ...defaultConfig(),
        port: Number(o.port),
        httpPort: Number(o.httpPort),
        data: ':memory:',
        metricsPort: -1,
        logLevel: 'warn',
        // A demo's latency is not worth a warning about the collector on one CPU.
        gcHelperThreads: 'on',
      });
      const target = `127.0.0.1:${server.port}`;
      const stop = new AbortController();
      const session = 'demo';
      if (server.httpPort >= 0) {
        out.line(`Watch it live: http://127.0.0.1:${server.httpPort}/review/demo?user=you`);
      }
      out.line(`LiveReview demo: server on ${target} (in memory). Join it yourself:`);
      out.line(`  node bin/livereview.js join ${session} --user you --target ${target}`);
      const client = (user: string) =>
        new LiveReviewClient({
          targets: [target],
          sessionId: session,
          userId: user,
          clientId: user,
          displayName: user,
        });
      const author = client('ada');
      const reviewer = client('grace');
      const second = client('linus');
      const watcher = client('watcher');
      // The author opens the review on the file.
      await author.connect();
      await author.openReview([{ path: 'src/total.ts', text: SAMPLE }]);
      await Promise.all([reviewer.connect(), second.connect(), watcher.connect()]);
      printTraffic(out, watcher, 'watcher');
      printFile(out, watcher, 'src/total.ts');

      const script = async () => {
        const path = 'src/total.ts';
        await sleep(300, stop.signal);
        reviewer.moveCursor(path, 4, 5);
        const first = await reviewer.comment(
          path,
          4,
          'Prices are floats: accumulate in cents to avoid rounding drift.',
        );
        await sleep(400, stop.signal);
        second.moveCursor(path, 1, 17);
        await second.comment(path, 1, 'Nit: `readonly Item[]` — the function does not mutate.');
        await sleep(400, stop.signal);
        // The author types a fix, character by character, while the reviewers watch.
        const line = '    sum += Math.round(item.price * 100);';
        author.editLine(path, 4, '');
        for (const ch of line) {
          if (stop.signal.aborted) return;
          // Type at the end of line 4, wherever the others' edits have moved it.
          author.edit(path, [lineRange(author.file(path)!.text, 4)!.contentEnd, ch]);
          await sleep(25, stop.signal);
        }
        author.editLine(path, 6, '  return sum / 100;');
        await reviewer.reply(first.commentId, 'Looks right now, thanks!');
        await sleep(300, stop.signal);
        await reviewer.resolve(first.commentId);
        await sleep(500, stop.signal);
        printFile(out, watcher, path);
      };
      let stopping = false;
      const shutdown = async () => {
        if (stopping) return;
        stopping = true;
        stop.abort();
        for (const c of [author, reviewer, second, watcher]) c.close();
        await server.shutdown(1000);
        out.line('demo stopped');
        process.exit(0);
      };
      process.on('SIGINT', () => void shutdown());
      process.on('SIGTERM', () => void shutdown());
      if (o.runFor) setTimeout(() => void shutdown(), Number(o.runFor));
      await script().catch((err: unknown) => out.line(`[demo] ${(err as Error).message}`));
      if (!o.runFor) out.line('demo script done; the server keeps running — join it, or Ctrl-C to stop');
    });
}
