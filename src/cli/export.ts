// `livereview export <session>`: the whole review as Markdown (to paste into a pull request) or
// JSON, on stdout or into a file.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { codeName, LiveReviewCallError, LiveReviewClient } from '../client/index.js';
import { tokenOf, userOf } from './identity.js';

interface ExportOptions {
  format: string;
  target: string[];
  token?: string;
  out?: string;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export a review: files with their diffs, threads, verdicts, participants and a timeline')
    .argument('<session>', 'the session id')
    .option('--format <format>', 'markdown (for a pull request) or json', 'markdown')
    .option('--target <host:port...>', 'server address(es)', ['127.0.0.1:50051'])
    .option('--token <jwt>', 'bearer token for a server with authentication [env LIVEREVIEW_TOKEN]')
    .option('--out <file>', 'write it to this file instead of stdout')
    .action(async (session: string, o: ExportOptions) => {
      if (o.format !== 'markdown' && o.format !== 'json') throw new Error('--format is markdown or json');
      const token = tokenOf(o.token);
      // Reading needs no user id: the token says who reads.
      const client = new LiveReviewClient({
        targets: o.target,
        sessionId: session,
        userId: userOf(undefined, token, false) ?? 'export',
        token,
      });
      try {
        const content = await client.exportReview(o.format, { deadlineMs: 30_000 });
        if (o.out) writeFileSync(o.out, content);
        else process.stdout.write(content);
      } catch (err) {
        if (!(err instanceof LiveReviewCallError)) throw err;
        process.stderr.write(
          `livereview: cannot export ${session}: ${codeName(err.code)}${err.reason ? ` ${err.reason}` : ''}: ${err.message}\n`,
        );
        process.exitCode = 1;
      } finally {
        client.close();
      }
    });
}
