// What one edit costs the server when a browser sends it: a Submit on the HTTP port (Connect
// binary, as the web app speaks it), over HTTP/2 with TLS and over HTTP/1.1, against the same
// comment on a gRPC session stream. One session; `--comments` comments after 300 of warm-up, 8 in
// flight, each waiting for its ack (the stream: its ack message; Submit: its response). Server CPU
// from /proc, per comment (the durable store's commits included, the same in every row).
//
// Run: npm run build && taskset -c 1 node dist/bench/edge-submit.js [--comments 3000]
//   [--bin <another checkout's livereview.js>]
// The server is pinned to core 0 when `taskset` is there; pin this process elsewhere.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { CodeReviewService, CommentAction } from '../src/gen/es/codereview/v1/codereview_pb.js';
import { CodeReviewServiceClient, SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { cpuSeconds, edgeCerts, serveEdge, machine, pinToCore0 } from './edge-clients.js';

const { values: args } = parseArgs({
  options: { comments: { type: 'string', default: '3000' }, bin: { type: 'string' } },
});
const N = Number(args.comments);
const WARMUP = 300;
const IN_FLIGHT = 8;

type Send = (i: number) => Promise<unknown>;

/** Comments on a gRPC session stream, each resolved by its ack. */
async function streamSender(port: number): Promise<{ send: Send; close(): void }> {
  const client = new CodeReviewServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.collaborativeSession();
  call.on('error', () => undefined);
  const waiting = new Map<string, () => void>();
  call.on('data', (m: SessionMessage) => {
    if (m.payload?.$case === 'ack') waiting.get(m.payload.value.clientMessageId)?.();
    if (m.payload?.$case === 'welcome') waiting.get('welcome')?.();
  });
  const acked = (key: string) => new Promise<void>((resolve) => waiting.set(key, resolve));
  const welcomed = acked('welcome');
  call.write(
    SessionMessage.fromPartial({
      sessionId: 's',
      userId: 'ann',
      payload: { $case: 'join', value: { clientId: 'c' } },
    }),
  );
  await welcomed;
  return {
    send: (i) => {
      const done = acked(`m${i}`);
      call.write(
        SessionMessage.fromPartial({
          clientMessageId: `m${i}`,
          payload: { $case: 'comment', value: { filePath: 'a.ts', lineNumber: 1, text: 'hello' } },
        }),
      );
      return done;
    },
    close: () => {
      call.end();
      client.close();
    },
  };
}

console.log(`\n### One edit from a browser: Submit on the HTTP port (${machine()})\n`);
console.log(`${N} comments in one session after ${WARMUP} of warm-up, ${IN_FLIGHT} in flight\n`);
console.log('| how | server CPU per comment, µs | wall, s |');
console.log('| --- | --- | --- |');
for (const kind of ['gRPC session stream', 'Submit, HTTP/2 (TLS)', 'Submit, HTTP/1.1'] as const) {
  const dir = mkdtempSync(join(tmpdir(), 'lr-edge-submit-'));
  const tls = kind.includes('HTTP/2') ? edgeCerts() : undefined;
  const { child, port, httpPort } = await serveEdge({
    dir,
    tls,
    ...(args.bin ? { bin: args.bin } : {}),
    prefix: pinToCore0(),
  });
  const client = createClient(
    CodeReviewService,
    createConnectTransport({
      baseUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${httpPort}`,
      httpVersion: tls ? '2' : '1.1',
      useBinaryFormat: true,
      ...(tls ? { nodeOptions: { ca: tls.ca } } : {}),
    }),
  );
  await client.openReview({ sessionId: 's', userId: 'ann', files: [{ path: 'a.ts', text: 'a\n' }] });
  const stream = kind.startsWith('gRPC') ? await streamSender(port) : undefined;
  const send: Send =
    stream?.send ??
    ((i) =>
      client.submit({
        message: {
          sessionId: 's',
          userId: 'ann',
          clientId: 'c',
          clientMessageId: `m${i}`,
          payload: {
            case: 'comment',
            value: {
              commentId: `k${i}`,
              action: CommentAction.CREATE,
              filePath: 'a.ts',
              lineNumber: 1,
              text: 'hello',
            },
          },
        },
      }));
  for (let i = 0; i < WARMUP; i++) await send(i);
  const cpu0 = cpuSeconds(child.pid!);
  const started = performance.now();
  let next = WARMUP;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < WARMUP + N) await send(next++);
    }),
  );
  const cpu = cpuSeconds(child.pid!) - cpu0;
  console.log(
    `| ${kind} | ${((cpu * 1e6) / N).toFixed(1)} | ${((performance.now() - started) / 1000).toFixed(1)} |`,
  );
  stream?.close();
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  tls?.remove();
}
process.exit(0);
