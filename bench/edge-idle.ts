// What an idle participant in a browser costs the server: a Subscribe on the HTTP port (Connect
// protocol), one connection per participant as separate browsers would hold, over HTTP/2 (the HTTP
// port with TLS) and over HTTP/1.1 (plaintext). The gRPC participant's figure is `npm run bench --
// --scenario idle`. A `livereview serve` child (durable store in a temporary directory, metrics
// off) serves; this process opens the participants and reads the server's RSS from /proc.
//
// Run: npm run build && node dist/bench/edge-idle.js [--participants 2000] [--bin <livereview.js>]
// (Connect binary, as the web app speaks it; --bin: another checkout's build, to compare.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { edgeCerts, machine, openSubscribes, rssKb, serveEdge } from './edge-clients.js';

const { values: args } = parseArgs({
  options: { participants: { type: 'string', default: '2000' }, bin: { type: 'string' } },
});
const N = Number(args.participants);
const SESSIONS = Math.max(1, Math.round(N / 100));
const subscribers = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) => ({
    sessionId: `edge-idle-${(from + k) % SESSIONS}`,
    userId: `u${from + k}`,
  }));

const settle = () => new Promise((r) => setTimeout(r, 3000));

console.log(`\n### Idle participants on the HTTP port (${machine()})\n`);
console.log(`${N} participants in ${SESSIONS} sessions, a Connect Subscribe each on its own connection\n`);
console.log(
  '| transport | server RSS before, MB | after, MB | KB per participant from the idle server | KB per participant from N/2 to N |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const kind of ['HTTP/2 (TLS)', 'HTTP/1.1 (plaintext)'] as const) {
  const dir = mkdtempSync(join(tmpdir(), 'lr-edge-idle-'));
  const tls = kind.startsWith('HTTP/2') ? edgeCerts() : undefined;
  const { child, httpPort } = await serveEdge({ dir, tls, ...(args.bin ? { bin: args.bin } : {}) });
  await settle();
  const close: (() => void)[] = [];
  const open = async (from: number, to: number) => {
    close.push(await openSubscribes(httpPort, tls?.ca, subscribers(from, to)));
    await settle();
    return rssKb(child.pid!);
  };
  const before = rssKb(child.pid!);
  const half = await open(0, N / 2);
  const after = await open(N / 2, N);
  console.log(
    `| ${kind} | ${(before / 1024).toFixed(1)} | ${(after / 1024).toFixed(1)} | ${((after - before) / N).toFixed(1)} | ${((after - half) / (N / 2)).toFixed(1)} |`,
  );
  for (const c of close) c();
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  tls?.remove();
}
process.exit(0);
