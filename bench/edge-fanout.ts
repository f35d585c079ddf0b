// What browser participants cost the server while a review is live: S sessions, each with one
// writer on the gRPC port commenting R times a second and P readers, each a Connect Subscribe on
// the HTTP port on its own connection (as separate browsers), over HTTP/2 with TLS and over
// HTTP/1.1. It reports the server's CPU per delivery (from /proc, over the measured window) and the
// time from a comment's send to its receipt at each reader (this process sends and receives, so
// one clock).
//
// Run: npm run build && taskset -c 1 node dist/bench/edge-fanout.js [--sessions 20]
//   [--participants 10] [--rate 20] [--duration 10000] [--bin <another checkout's livereview.js>]
// The server is pinned to core 0 when `taskset` is there; pin this process elsewhere.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import {
  CodeReviewServiceClient,
  SessionMessage,
  SubscribeResponse,
} from '../src/gen/codereview/v1/codereview.js';
import {
  cpuSeconds,
  edgeCerts,
  openSubscribes,
  rssKb,
  serveEdge,
  machine,
  pinToCore0,
} from './edge-clients.js';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '20' },
    participants: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
    duration: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '2000' },
    bin: { type: 'string' },
  },
});
const SESSIONS = Number(args.sessions);
const READERS = Number(args.participants);
const RATE = Number(args.rate);
const DURATION_MS = Number(args.duration);
const WARMUP_MS = Number(args.warmup);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

function unary<Req, Res>(
  call: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
) {
  return new Promise<Res>((resolve, reject) => call(req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** The same readers as gRPC Subscribes, each on its own channel (connection). */
async function grpcSubscribes(
  port: number,
  readers: { sessionId: string; userId: string }[],
  onResponse: (r: SubscribeResponse) => void,
): Promise<() => void> {
  const clients = readers.map(
    () =>
      new CodeReviewServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
      }),
  );
  await Promise.all(
    readers.map(
      (r, i) =>
        new Promise<void>((resolve) => {
          const call = clients[i]!.subscribe({
            sessionId: r.sessionId,
            userId: r.userId,
            clientId: r.userId,
          });
          call.once('data', () => resolve());
          call.on('data', onResponse);
          call.on('error', () => undefined);
        }),
    ),
  );
  return () => {
    for (const c of clients) c.close();
  };
}

console.log(`\n### Live browser participants (${machine()})\n`);
console.log(
  `${SESSIONS} sessions x (1 gRPC writer at ${RATE} comments/s + ${READERS} Connect Subscribes, one connection each); ${DURATION_MS / 1000} s measured after ${WARMUP_MS / 1000} s\n`,
);
console.log(
  '| transport | deliveries/s | lost | server CPU per delivery, µs | server CPU, % of a core | p50 ms | p99 ms | server RSS, MB |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const kind of ['HTTP/2 (TLS)', 'HTTP/1.1 (plaintext)', 'gRPC (plaintext), for comparison'] as const) {
  const dir = mkdtempSync(join(tmpdir(), 'lr-edge-fanout-'));
  const tls = kind.startsWith('HTTP/2') ? edgeCerts() : undefined;
  const { child, port, httpPort } = await serveEdge({
    dir,
    tls,
    ...(args.bin ? { bin: args.bin } : {}),
    prefix: pinToCore0(),
  });
  const credentials = tls ? grpc.credentials.createSsl(tls.ca) : grpc.credentials.createInsecure();
  const client = new CodeReviewServiceClient(`127.0.0.1:${port}`, credentials, {
    'grpc.ssl_target_name_override': 'localhost',
  });
  const sessionIds = Array.from({ length: SESSIONS }, (_, s) => `fanout-${s}`);
  const writers: grpc.ClientDuplexStream<SessionMessage, SessionMessage>[] = [];
  for (const sessionId of sessionIds) {
    await unary(client.openReview.bind(client), {
      sessionId,
      userId: 'writer',
      clientMessageId: '',
      files: [{ path: 'a.ts', text: 'a\n', language: '' }],
    } as never);
    const call = client.collaborativeSession();
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.write(
      SessionMessage.fromPartial({
        sessionId,
        userId: 'writer',
        payload: { $case: 'join', value: { clientId: `w-${sessionId}` } },
      }),
    );
    writers.push(call);
  }

  let measureFrom = Infinity;
  let measureTo = Infinity;
  const latencies: number[] = [];
  const received = (response: SubscribeResponse) => {
    const payload = response.message?.payload;
    if (payload?.$case !== 'comment') return;
    const sentAt = Number(payload.value.text);
    if (sentAt >= measureFrom && sentAt < measureTo) latencies.push(performance.now() - sentAt);
  };
  const readers = sessionIds.flatMap((sessionId) =>
    Array.from({ length: READERS }, (_, i) => ({ sessionId, userId: `r${i}` })),
  );
  const close = kind.startsWith('gRPC')
    ? await grpcSubscribes(port, readers, received)
    : await openSubscribes(httpPort, tls?.ca, readers, (message) =>
        received(SubscribeResponse.decode(message)),
      );
  await sleep(2000);

  // Each writer at RATE a second, spread over the period (golden-ratio phases).
  let sent = 0;
  let measuredSent = 0;
  const started = performance.now();
  const budgets = sessionIds.map((_, s) => (s * 0.618) % 1);
  let last = started;
  const ticker = setInterval(() => {
    const now = performance.now();
    const due = ((now - last) / 1000) * RATE;
    last = now;
    for (let s = 0; s < SESSIONS; s++) {
      budgets[s]! += due;
      while (budgets[s]! >= 1) {
        budgets[s]! -= 1;
        const at = performance.now();
        if (at >= measureFrom && at < measureTo) measuredSent++;
        writers[s]!.write(
          SessionMessage.fromPartial({
            clientMessageId: `c${sent++}`,
            payload: { $case: 'comment', value: { filePath: 'a.ts', lineNumber: 1, text: String(at) } },
          }),
        );
      }
    }
  }, 5);
  await sleep(WARMUP_MS);
  measureFrom = performance.now();
  measureTo = measureFrom + DURATION_MS;
  const cpu0 = cpuSeconds(child.pid!);
  await sleep(DURATION_MS);
  clearInterval(ticker);
  await sleep(1000); // what was sent in the window arrives
  const cpu = cpuSeconds(child.pid!) - cpu0;
  const elapsed = (performance.now() - measureFrom) / 1000;
  const expected = measuredSent * READERS;
  latencies.sort((a, b) => a - b);
  console.log(
    `| ${kind} | ${(latencies.length / (DURATION_MS / 1000)).toFixed(0)} | ${expected - latencies.length} | ${((cpu * 1e6) / latencies.length).toFixed(1)} | ${((cpu / elapsed) * 100).toFixed(0)} | ${percentile(latencies, 0.5).toFixed(2)} | ${percentile(latencies, 0.99).toFixed(2)} | ${(rssKb(child.pid!) / 1024).toFixed(0)} |`,
  );
  close();
  for (const w of writers) w.end();
  client.close();
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  tls?.remove();
}
process.exit(0);
