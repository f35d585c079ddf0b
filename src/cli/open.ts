// `livereview open`: opens a review of a git working tree (the files changed since a base revision,
// with their base and head texts) in a session, and says how to join it.
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { codeName, LiveReviewCallError, LiveReviewClient } from '../client/index.js';
import { collectReview, GitSourceError } from '../review/git-source.js';
import { DEFAULT_MAX_MESSAGE_BYTES, openCollectedReview } from '../review/open-from-git.js';
import { selfCommand, tokenOf, userOf } from './identity.js';
import { stdoutPrinter as out } from './printer.js';

interface OpenOptions {
  repo: string;
  base?: string;
  session?: string;
  target: string[];
  user?: string;
  token?: string;
  httpPort: string;
  maxMessageBytes: string;
}

/** A session id from the repository's name and a random suffix (a new review each time). */
function sessionIdFor(root: string): string {
  const name =
    basename(root)
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .slice(0, 48) || 'review';
  return `${name}-${randomBytes(3).toString('hex')}`;
}

/** The address the web app has for a target (issue 13: the HTTP port of the same server). */
function webAddress(target: string, httpPort: string, sessionId: string): string {
  const host = target.replace(/:\d+$/, '').replace(/^(0\.0\.0\.0|\[::\]|::)$/, '127.0.0.1');
  return `http://${host}:${httpPort}/review/${encodeURIComponent(sessionId)}`;
}

export function registerOpen(program: Command): void {
  program
    .command('open')
    .description(
      'Open a review of a git working tree: the files changed since a base revision, each with its base and head texts',
    )
    .option('--repo <dir>', 'a directory inside the working tree', '.')
    .option(
      '--base <rev>',
      'the revision to compare with (default: the merge base of HEAD with the default branch)',
    )
    .option('--session <id>', 'the session id (default: the repository name and a random suffix)')
    .option('--target <host:port...>', 'server address(es)', ['127.0.0.1:50051'])
    .option('--user <name>', 'your user id (default: the subject of --token, else your login name)')
    .option('--token <jwt>', 'bearer token for a server with authentication [env LIVEREVIEW_TOKEN]')
    .option('--http-port <port>', "the server's web port, for the printed address", '8080')
    .option(
      '--max-message-bytes <n>',
      "the server's --max-message-bytes: files go in as many calls as it needs",
      String(DEFAULT_MAX_MESSAGE_BYTES),
    )
    .action(async (o: OpenOptions) => {
      const token = tokenOf(o.token);
      const user = userOf(o.user, token, true);
      if (!user) throw new Error('--user is required (or a --token naming its user)');
      let review;
      try {
        review = await collectReview({ repo: o.repo, ...(o.base !== undefined ? { base: o.base } : {}) });
      } catch (err) {
        if (!(err instanceof GitSourceError)) throw err;
        out.line(`cannot collect a review (${err.code}): ${err.message}`);
        process.exit(1);
      }
      const against = `${review.head.description} against ${review.base.description}`;
      if (review.files.length === 0) {
        out.line(`nothing to review: no file with text changed in ${against}`);
        for (const s of review.skipped) out.line(`  skipped ${s.path}: ${s.note}`);
        process.exit(1);
      }
      const sessionId = o.session ?? sessionIdFor(review.root);
      const target = o.target[0]!;
      const client = new LiveReviewClient({ targets: o.target, sessionId, userId: user, token });
      let opened;
      try {
        opened = await openCollectedReview(review, {
          client: { openReview: (files) => client.openReview(files, { deadlineMs: 30_000 }) },
          maxMessageBytes: Number(o.maxMessageBytes),
        });
      } catch (err) {
        if (!(err instanceof LiveReviewCallError)) throw err;
        out.line(
          `cannot open the review: ${codeName(err.code)}${err.reason ? ` ${err.reason}` : ''}: ${err.message}`,
        );
        process.exit(1);
      } finally {
        client.close();
      }
      out.line(`Opened review ${sessionId} on ${target}: ${opened.opened.length} file(s), ${against}`);
      const width = Math.max(...opened.opened.map((f) => f.path.length));
      for (const f of opened.opened) {
        const lines =
          f.linesAdded === undefined ? 'too large to diff' : `+${f.linesAdded} -${f.linesRemoved}`;
        const from = f.previousPath !== undefined ? ` (from ${f.previousPath})` : '';
        out.line(`  ${f.change.padEnd(8)}  ${(f.path + from).padEnd(width)}  ${lines}`);
      }
      if (opened.skipped.length > 0) {
        out.line(`Skipped ${opened.skipped.length} file(s):`);
        for (const s of opened.skipped) out.line(`  ${s.path}: ${s.note}`);
      }
      const tokenHint = token ? ' --token "$LIVEREVIEW_TOKEN"' : ' --user <name>';
      out.line('Join it from a terminal:');
      out.line(`  ${selfCommand()} join ${sessionId}${tokenHint} --target ${target}`);
      out.line('In a browser, once the server serves the web app on its HTTP port (--http-port):');
      out.line(`  ${webAddress(target, o.httpPort, sessionId)}`);
      out.line(
        `Export it when done: ${selfCommand()} export ${sessionId} --format markdown --target ${target}`,
      );
    });
}
