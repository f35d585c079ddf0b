// `livereview join <session> --user <name>`: a terminal client. It shows the file, presence and
// comments live, and takes commands on stdin: comments and line edits.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { LiveReviewClient } from '../client/index.js';
import { printFile, printTraffic, stdoutPrinter as out } from './printer.js';

const HELP = [
  'commands:',
  '  c <line> <text>        comment on a line of the current file',
  '  e <line> <content>     replace a line (line count + 1 appends one)',
  '  r <comment-id> <text>  reply in a thread',
  '  resolve <comment-id>   resolve a thread   |  reopen <comment-id>',
  '  f <path>               switch the current file',
  '  p                      print the current file with its comments',
  '  who                    who is here        |  q  quit',
].join('\n');

export function registerJoin(program: Command): void {
  program
    .command('join')
    .description(
      'Join a session from the terminal: see the file, presence and comments live; type comments and line edits',
    )
    .argument('<session>', 'the session id')
    .requiredOption('--user <name>', 'your user id')
    .option('--target <host:port...>', 'server address(es); several are used round-robin', [
      '127.0.0.1:50051',
    ])
    .option('--file <path>', 'the file to show first (default: the first one)')
    .option('--run-for <ms>', 'leave after this many milliseconds (scripts and tests)')
    .action(
      async (session: string, o: { user: string; target: string[]; file?: string; runFor?: string }) => {
        const client = new LiveReviewClient({
          targets: o.target,
          sessionId: session,
          userId: o.user,
          displayName: o.user,
        });
        printTraffic(out, client, o.user);
        let current = o.file ?? '';
        await client.connect();
        current ||= client.files[0] ?? '';
        out.line(
          `joined ${session} as ${o.user}; ${client.participants().length} here. Type "help" for commands.`,
        );
        if (current) printFile(out, client, current);
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
                await client.comment(current, num, tail);
                return out.line(`[you] commented on ${current}:${num}`);
              case 'e':
                client.editLine(current, num, tail);
                return out.line(`[you] replaced ${current}:${num}`);
              case 'r':
                await client.reply(rest[0]!, tail);
                return out.line(`[you] replied to ${rest[0]}`);
              case 'resolve':
                await client.resolve(arg);
                return out.line(`[you] resolved ${arg}`);
              case 'reopen':
                await client.reopen(arg);
                return out.line(`[you] reopened ${arg}`);
              case 'f':
                current = arg;
                return printFile(out, client, current);
              case 'p':
                return printFile(out, client, current);
              case 'who':
                return client.participants().forEach((p) => out.line(`  ${p.userId} (${p.status})`));
              case 'q':
                return quit();
              default:
                return out.line(HELP);
            }
          } catch (err) {
            out.line(`[error] ${(err as Error).message}`);
          }
        };
        const rl = createInterface({ input: process.stdin });
        let queue = Promise.resolve();
        rl.on('line', (line) => (queue = queue.then(() => run(line))));
        rl.on('close', () => void queue.then(() => (o.runFor ? undefined : quit())));
        if (o.runFor) setTimeout(() => void queue.then(() => quit()), Number(o.runFor));
        process.on('SIGINT', () => quit());
        process.on('SIGTERM', () => quit());
      },
    );
}
