// `livereview join <session> --user <name>`: a terminal client. It shows the file, presence and
// comments live, and takes commands on stdin: comments, line edits, opening local files. What the
// server refuses is shown as refused, with the file as it really is afterwards.
import { readFileSync } from 'node:fs';
import { basename, isAbsolute, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { codeName, LiveReviewClient, type LiveReviewCallError } from '../client/index.js';
import { tokenOf, userOf } from './identity.js';
import { printDiff, printFile, printSummary, printTraffic, stdoutPrinter as out } from './printer.js';

const HELP = [
  'commands:',
  '  c <line> <text>        comment on a line of the current file',
  '  b <line> <text>        comment on a line of its base (e.g. removed code)',
  '  e <line> <content>     replace a line (line count + 1 appends one)',
  '  s <line>[-<end>] <new> suggest new content for lines ("\\n" between lines; empty deletes)',
  '  a <comment-id>         apply the suggestion of a thread',
  '  r <comment-id> <text>  reply in a thread',
  '  resolve <comment-id>   resolve a thread   |  reopen <comment-id>',
  '  d                      the diff of the current file against its base',
  '  viewed | unviewed      mark the current file viewed (until it changes), or not',
  '  v approve|changes|comment [message]   give your verdict',
  '  summary                where the review stands',
  '  o <local file>         open a file from this computer into the session',
  '  f <path>               switch the current file',
  '  p                      print the current file with its comments',
  '  who                    who is here        |  q  quit',
].join('\n');

const VERDICTS = { approve: 'approve', changes: 'request_changes', comment: 'comment' } as const;

interface JoinOptions {
  user?: string;
  token?: string;
  target: string[];
  file?: string;
  open?: string[];
  runFor?: string;
}

/** A local file's path in the session: relative to this directory (its name, if outside it),
 * with forward slashes. */
function sessionPath(local: string): string {
  const rel = relative(process.cwd(), resolve(local));
  return (rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : basename(local)).replace(/\\/g, '/');
}

export function registerJoin(program: Command): void {
  program
    .command('join')
    .description(
      'Join a session from the terminal: see the file, presence and comments live; type comments and line edits',
    )
    .argument('<session>', 'the session id')
    .option('--user <name>', 'your user id (default: the subject of --token)')
    .option('--token <jwt>', 'bearer token for a server with authentication [env LIVEREVIEW_TOKEN]')
    .option('--target <host:port...>', 'server address(es); several are used round-robin', [
      '127.0.0.1:50051',
    ])
    .option('--open <file...>', 'open these local files into the session (starts a review)')
    .option('--file <path>', 'the file to show first (default: the first one)')
    .option('--run-for <ms>', 'leave after this many milliseconds (scripts and tests)')
    .action(async (session: string, o: JoinOptions) => {
      const token = tokenOf(o.token);
      const user = userOf(o.user, token, false);
      if (!user) throw new Error('--user is required (or a --token naming its user)');
      const client = new LiveReviewClient({
        targets: o.target,
        sessionId: session,
        userId: user,
        displayName: user,
        token,
      });
      let current = o.file ?? '';
      printTraffic(out, client, user, () => current);
      try {
        await client.connect();
      } catch (err) {
        const e = err as LiveReviewCallError;
        out.line(
          `cannot join ${session}: ${codeName(e.code)}${e.reason ? ` ${e.reason}` : ''}: ${e.message}`,
        );
        process.exit(1);
      }
      const open = async (local: string) => {
        const path = sessionPath(local);
        await client.openReview([{ path, text: readFileSync(local, 'utf8') }]);
        current = path;
        out.line(`[you] opened ${path}`);
      };
      for (const local of o.open ?? []) await open(local);
      current ||= client.files[0] ?? '';
      out.line(
        `joined ${session} as ${user}; ${client.participants().length} here. Type "help" for commands.`,
      );
      if (current) printFile(out, client, current);
      else out.line('no files in this session yet: "o <local file>" opens one (or join with --open <file>)');
      let done = false;
      const quit = (code = 0) => {
        if (done) return;
        done = true;
        // Let the last acknowledgements arrive before leaving.
        const wait = client.synced
          ? Promise.resolve()
          : new Promise<void>((r) => client.once('synced', () => r()));
        void Promise.race([wait, new Promise((r) => setTimeout(r, 2000))]).then(() => {
          client.close();
          setTimeout(() => process.exit(code), 150);
        });
      };
      /** Waits until the server has taken or refused this client's edits of `path` (a refusal
       * prints itself), or a few seconds (offline: the edit waits in the outbox). */
      const settled = (path: string) =>
        new Promise<'applied' | 'refused' | 'pending'>((resolve) => {
          if (client.synced) return resolve('applied');
          const onSynced = (s: boolean) => s && finish('applied');
          const onRollback = (r: { path: string }) => r.path === path && finish('refused');
          const timer = setTimeout(() => finish('pending'), 3000);
          const finish = (how: 'applied' | 'refused' | 'pending') => {
            clearTimeout(timer);
            client.off('synced', onSynced);
            client.off('rollback', onRollback);
            resolve(how);
          };
          client.on('synced', onSynced);
          client.on('rollback', onRollback);
        });
      const needFile = () => {
        if (current) return true;
        out.line('no current file: "f <path>" chooses one, "o <local file>" opens one');
        return false;
      };
      const run = async (line: string) => {
        const [cmd, ...rest] = line.trim().split(' ');
        const arg = rest.join(' ');
        const num = Number(rest[0]);
        const tail = rest.slice(1).join(' ');
        try {
          switch (cmd) {
            case '':
              return;
            case 'c':
              if (!needFile()) return;
              await client.comment(current, num, tail);
              return out.line(`[you] commented on ${current}:${num}`);
            case 'e': {
              if (!needFile()) return;
              const path = current;
              client.editLine(path, num, tail);
              const how = await settled(path);
              if (how === 'applied') out.line(`[you] replaced ${path}:${num}`);
              if (how === 'pending') out.line(`[you] replaced ${path}:${num} (not acknowledged yet)`);
              return;
            }
            case 'b':
              if (!needFile()) return;
              await client.commentOnBase(current, num, tail);
              return out.line(`[you] commented on base line ${num} of ${current}`);
            case 's': {
              if (!needFile()) return;
              const [from, to = from] = (rest[0] ?? '').split('-').map(Number);
              const lines = tail === '' ? [] : tail.split('\\n');
              const ack = await client.suggest(current, from!, to!, lines, 'Suggested change');
              return out.line(`[you] suggested a change to ${current}:${rest[0]} (${ack.commentId})`);
            }
            case 'a':
              await client.applySuggestion(arg);
              return out.line(`[you] applied the suggestion of ${arg}`);
            case 'd':
              if (needFile()) printDiff(out, client, current);
              return;
            case 'viewed':
            case 'unviewed':
              if (!needFile()) return;
              await client.markViewed(current, cmd === 'viewed');
              return out.line(`[you] marked ${current} ${cmd === 'viewed' ? 'viewed' : 'not viewed'}`);
            case 'v': {
              const verdict = VERDICTS[(rest[0] ?? '') as keyof typeof VERDICTS];
              if (!Object.hasOwn(VERDICTS, rest[0] ?? ''))
                return out.line('v approve|changes|comment [message]');
              await client.setVerdict(verdict, tail);
              return out.line(`[you] gave your verdict: ${verdict}`);
            }
            case 'summary':
              return printSummary(out, client);
            case 'r':
              await client.reply(rest[0]!, tail);
              return out.line(`[you] replied to ${rest[0]}`);
            case 'resolve':
              await client.resolve(arg);
              return out.line(`[you] resolved ${arg}`);
            case 'reopen':
              await client.reopen(arg);
              return out.line(`[you] reopened ${arg}`);
            case 'o':
              await open(arg);
              return printFile(out, client, current);
            case 'f':
              current = arg;
              return printFile(out, client, current);
            case 'p':
              if (needFile()) printFile(out, client, current);
              return;
            case 'who':
              return client.participants().forEach((p) => out.line(`  ${p.userId} (${p.status})`));
            case 'q':
              return quit();
            default:
              return out.line(HELP);
          }
        } catch (err) {
          // A refusal in the session was printed as it arrived; say what did not happen.
          const e = err as LiveReviewCallError;
          out.line(`[not done] ${cmd}: ${e.reason ? `${e.reason}: ` : ''}${e.message}`);
        }
      };
      const rl = createInterface({ input: process.stdin });
      let queue = Promise.resolve();
      rl.on('line', (line) => (queue = queue.then(() => run(line))));
      rl.on('close', () => void queue.then(() => (o.runFor ? undefined : quit())));
      if (o.runFor) setTimeout(() => void queue.then(() => quit()), Number(o.runFor));
      process.on('SIGINT', () => quit());
      process.on('SIGTERM', () => quit());
    });
}
