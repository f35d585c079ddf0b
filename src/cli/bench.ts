// `livereview bench`: the load generator, with a progress bar while it runs and a report at the end.
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { formatReport, runLoad } from '../loadgen/load-generator.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'Generate load against LiveReview (or any server of the same .proto) and report deliveries, losses and latency',
    )
    .option('--target <host:port...>', 'server address(es)', ['127.0.0.1:50051'])
    .option('--sessions <n>', 'sessions', '1')
    .option('--participants <n>', 'participants per session', '10')
    .option('--rate <n>', 'messages per second per participant (0: idle)', '5')
    .option('--duration <ms>', 'measured time', '10000')
    .option('--warmup <ms>', 'time sending before measuring', '2000')
    .option('--mix <edits:comments:cursors>', 'relative weights of message kinds', '1:0:0')
    .option('--shared-channel', 'all participants on one channel per target (default: one connection each)')
    .option('--server-pid <pid...>', 'local server process(es): report their CPU and peak memory (summed)')
    .option('--token <jwt>', 'bearer token (a server with authentication)')
    .option('--session-prefix <s>', 'session id prefix', `bench-${process.pid}`)
    .option('--json', 'print the report as JSON')
    .action(async (o: Record<string, string | string[] | boolean | undefined>) => {
      const [edits, comments, cursors] = String(o.mix).split(':').map(Number);
      const durationMs = Number(o.duration);
      const warmupMs = Number(o.warmup);
      const bar = new SingleBar(
        {
          format: 'bench |{bar}| {phase} {joined} joined, {sent} sent, {delivered} delivered',
          hideCursor: true,
          stream: process.stderr,
          // Also report progress (once a second) when stderr is a log rather than a terminal.
          noTTYOutput: true,
          notTTYSchedule: 1000,
        },
        Presets.shades_classic,
      );
      bar.start(warmupMs + durationMs, 0, { phase: 'joining', joined: 0, sent: 0, delivered: 0 });
      let joinedAt = 0;
      const report = await runLoad({
        targets: o.target as string[],
        sessions: Number(o.sessions),
        participants: Number(o.participants),
        rate: Number(o.rate),
        durationMs,
        warmupMs,
        mix: { edits: edits ?? 1, comments: comments ?? 0, cursors: cursors ?? 0 },
        sharedChannel: Boolean(o.sharedChannel),
        serverPids: ((o.serverPid as string[] | undefined) ?? []).map(Number),
        token: o.token as string | undefined,
        sessionPrefix: String(o.sessionPrefix),
        onProgress: (p) => {
          if (p.phase !== 'joining' && !joinedAt) joinedAt = p.elapsedMs;
          bar.update(Math.min(warmupMs + durationMs, joinedAt ? p.elapsedMs - joinedAt : 0), {
            phase: p.phase,
            joined: p.joined,
            sent: p.sent,
            delivered: p.delivered,
          });
        },
      });
      bar.stop();
      process.stdout.write((o.json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
      process.exit(0);
    });
}
