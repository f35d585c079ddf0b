// Runs each scenario against the floor (a bare grpc-js broadcast server, bench/floor-server.ts)
// and against LiveReview (OT, the durable SQLite log, metrics, back-pressure all on), under the
// same load, server pinned to core 0 and the load generator (`livereview bench`, its own process)
// to core 1, and prints both and their ratio.
// Run: npm run bench -- [--scenario rates|typing|idle|resume|all] [--duration ms] [--repeat n]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { procStat, type LoadReport } from '../src/loadgen/load-generator.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin/livereview.js');
const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    duration: { type: 'string', default: '8000' },
    repeat: { type: 'string', default: '3' },
  },
});
const DURATION = Number(args.duration);
const REPEAT = Math.max(1, Number(args.repeat));
const pin = (core: number, argv: string[]) =>
  (cpus().length >= 2 ? ['taskset', ['-c', String(core), ...argv]] : [argv[0]!, argv.slice(1)]) as [
    string,
    string[],
  ];

type Kind = 'floor' | 'livereview';
interface Server {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

async function startServer(
  kind: Kind,
  reuse?: { port: number; data: string },
): Promise<Server & { data: string; kill(): Promise<void> }> {
  // Port 0: the OS picks a free one. A fixed guess can collide with one of the generator's
  // thousands of client connections, whose local ports come from the same ephemeral range.
  const requestedPort = reuse?.port ?? 0;
  const data = reuse?.data ?? mkdtempSync(join(tmpdir(), 'lr-bench-'));
  const argv =
    kind === 'floor'
      ? [process.execPath, join(root, 'dist/bench/floor-server.js'), String(requestedPort)]
      : [
          process.execPath,
          bin,
          'serve',
          '--port',
          String(requestedPort),
          '--metrics-port',
          '0',
          '--data',
          data,
          '--log-level',
          'warn',
          '--rate-user-per-second',
          '0',
          '--rate-session-per-second',
          '0',
          '--max-participants',
          '10000',
          // The shared-channel scenario puts 500 streams on one connection (default limit: 100).
          '--max-concurrent-streams',
          '1000',
        ];
  const [cmd, rest] = pin(0, argv);
  const child: ChildProcess = spawn(cmd, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const listening = /listening on \S*:(\d+)/.exec(err);
      if (listening) resolve(Number(listening[1]));
    });
    child.once('exit', (code) => reject(new Error(`${kind} exited ${code}: ${err}`)));
  });
  return {
    pid: child.pid!,
    port,
    data,
    kill: async () => {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

async function bench(server: Server, extra: string[]): Promise<LoadReport> {
  const argv = [
    process.execPath,
    bin,
    'bench',
    '--target',
    `127.0.0.1:${server.port}`,
    '--server-pid',
    String(server.pid),
    '--json',
    ...extra,
  ];
  const [cmd, rest] = pin(1, argv);
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise((r) => child.once('exit', r));
  return JSON.parse(out) as LoadReport;
}

/** The worst of these across runs (a loss in any run is a loss); every other figure is the median. */
const WORST = new Set(['lost', 'duplicated', 'streamsEnded', 'refused']);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One report of several runs: the median of every figure (the worst for losses). */
function combine<T>(runs: T[], key = ''): T {
  const first = runs[0];
  if (typeof first === 'number') {
    const values = runs as number[];
    return (WORST.has(key) ? Math.max(...values) : median(values)) as T;
  }
  if (typeof first === 'boolean') return (runs as boolean[]).some(Boolean) as T;
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first))
      out[k] = combine(
        runs.map((r) => (r as Record<string, unknown>)[k]),
        k,
      );
    return out as T;
  }
  return first as T;
}

const cpuPerDelivery = (r: LoadReport) =>
  r.server && r.delivered ? (r.server.cpuSeconds / r.delivered) * 1e6 : undefined;

const f = (n: number | undefined, d = 1) => (n === undefined ? '-' : n.toFixed(d));
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(b / a).toFixed(2)}x` : '-');

interface Measured {
  report: LoadReport;
  /** Per run, for the spread. */
  cpuPerDelivery: number[];
  p99: number[];
}

const spread = (values: number[], d: number) =>
  values.length > 1 ? ` (${f(Math.min(...values), d)}–${f(Math.max(...values), d)})` : '';

function compare(title: string, floorRuns: Measured, lrRuns: Measured): void {
  const floor = floorRuns.report;
  const lr = lrRuns.report;
  const cpuPerK = (m: Measured) => (m.cpuPerDelivery.length ? median(m.cpuPerDelivery) : undefined);
  const rows: [string, string, string, string][] = [
    [
      'delivered/s',
      f(floor.deliveredPerSecond, 0),
      f(lr.deliveredPerSecond, 0),
      ratio(floor.deliveredPerSecond, lr.deliveredPerSecond),
    ],
    ['lost / duplicated', `${floor.lost} / ${floor.duplicated}`, `${lr.lost} / ${lr.duplicated}`, ''],
    [
      'streams ended (cut off) / refused',
      `${floor.streamsEnded} / ${floor.refused}`,
      `${lr.streamsEnded} / ${lr.refused}`,
      '',
    ],
    [
      'server CPU % of a core',
      f(floor.server?.cpuPercentOfCore),
      f(lr.server?.cpuPercentOfCore),
      ratio(floor.server?.cpuPercentOfCore, lr.server?.cpuPercentOfCore),
    ],
    [
      'server CPU µs per delivery',
      f(cpuPerK(floorRuns), 2) + spread(floorRuns.cpuPerDelivery, 1),
      f(cpuPerK(lrRuns), 2) + spread(lrRuns.cpuPerDelivery, 1),
      ratio(cpuPerK(floorRuns), cpuPerK(lrRuns)),
    ],
    [
      'latency p50 ms',
      f(floor.latencyMs.p50, 2),
      f(lr.latencyMs.p50, 2),
      ratio(floor.latencyMs.p50, lr.latencyMs.p50),
    ],
    [
      'latency p99 ms',
      f(floor.latencyMs.p99, 2) + spread(floorRuns.p99, 1),
      f(lr.latencyMs.p99, 2) + spread(lrRuns.p99, 1),
      ratio(floor.latencyMs.p99, lr.latencyMs.p99),
    ],
    ['latency p99.9 ms', f(floor.latencyMs.p999, 2), f(lr.latencyMs.p999, 2), ''],
    ['server peak RSS MB', f(floor.server?.peakRssMb), f(lr.server?.peakRssMb), ''],
    [
      'generator CPU % (bottleneck?)',
      `${f(floor.generator.cpuPercentOfCore)}${floor.generator.bottleneck ? ' YES' : ''}`,
      `${f(lr.generator.cpuPercentOfCore)}${lr.generator.bottleneck ? ' YES' : ''}`,
      '',
    ],
  ];
  console.log(`\n### ${title}\n`);
  console.log('| metric | floor (bare grpc-js) | LiveReview | LiveReview / floor |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

/** Runs the load against the floor and LiveReview, alternating, REPEAT times each (a fresh server
 * per run), and prints the medians side by side. */
async function both(title: string, extra: string[]): Promise<[LoadReport, LoadReport]> {
  const runs: Record<Kind, LoadReport[]> = { floor: [], livereview: [] };
  for (let i = 0; i < REPEAT; i++) {
    for (const kind of ['floor', 'livereview'] as Kind[]) {
      const server = await startServer(kind);
      try {
        runs[kind].push(await bench(server, extra));
      } finally {
        await server.stop();
      }
    }
  }
  const measured = (kind: Kind): Measured => ({
    report: combine(runs[kind]),
    cpuPerDelivery: runs[kind].map(cpuPerDelivery).filter((x): x is number => x !== undefined),
    p99: runs[kind].map((r) => r.latencyMs.p99),
  });
  const floor = measured('floor');
  const lr = measured('livereview');
  compare(title, floor, lr);
  return [floor.report, lr.report];
}

console.log(
  `# LiveReview benchmarks — ${new Date().toISOString()}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model}`,
);
console.log(
  `server pinned to core 0, generator to core 1 (taskset); ${DURATION} ms measured per run after a 2 s warm-up; ` +
    `${REPEAT} runs per server and scenario: medians, (min–max) across runs, worst-case losses`,
);
const scenario = args.scenario!;
const d = ['--duration', String(DURATION), '--warmup', '2000'];

if (scenario === 'all' || scenario === 'rates') {
  for (const rate of [20, 50, 100, 200, 400]) {
    await both(`1 session x 10 participants at ${rate} edits/s each (${rate * 90} deliveries/s offered)`, [
      '--sessions',
      '1',
      '--participants',
      '10',
      '--rate',
      String(rate),
      ...d,
    ]);
  }
}
if (scenario === 'all' || scenario === 'typing') {
  const typing = ['--sessions', '100', '--participants', '5', '--rate', '5', ...d];
  await both('100 sessions x 5 participants x 5 edits/s (human typing), one connection each', typing);
  await both('100 sessions x 5 participants x 5 edits/s, generator on one shared channel', [
    ...typing,
    '--shared-channel',
  ]);
}
if (scenario === 'all' || scenario === 'idle') {
  const [floor, lr] = await both('5000 idle participants (50 sessions x 100), one connection each', [
    '--sessions',
    '50',
    '--participants',
    '100',
    '--rate',
    '0',
    '--duration',
    '2000',
    '--warmup',
    '0',
  ]);
  const perParticipant = (r: LoadReport) =>
    r.server && ((r.server.rssAfterJoinMb - r.server.rssBeforeMb) * 1024) / 5000;
  console.log(`\n| idle | floor | LiveReview | ratio |\n| --- | --- | --- | --- |`);
  console.log(
    `| KB per idle participant | ${f(perParticipant(floor))} | ${f(perParticipant(lr))} | ${ratio(perParticipant(floor), perParticipant(lr))} |`,
  );
  console.log(
    `| time to join 5000 (ms) | ${floor.joinMs} | ${lr.joinMs} | ${ratio(floor.joinMs, lr.joinMs)} |`,
  );
}

if (scenario === 'all' || scenario === 'resume') {
  const clients = 2000;
  let server = await startServer('livereview');
  const [cmd, rest] = pin(1, [
    process.execPath,
    join(root, 'dist/bench/resume-storm.js'),
    `127.0.0.1:${server.port}`,
    String(clients),
    '20',
  ]);
  const storm = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve) =>
    storm.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('READY')) resolve();
    }),
  );
  const killedAt = Date.now();
  await server.kill();
  server = await startServer('livereview', { port: server.port, data: server.data });
  const restartMs = Date.now() - killedAt;
  await new Promise((r) => storm.once('exit', r));
  const serverCpuSeconds = procStat(server.pid)?.cpuSeconds;
  await server.stop();
  const r = JSON.parse(out.slice(out.indexOf('{'))) as Record<string, number>;
  console.log(
    `\n### Resume storm: ${clients} clients in 20 sessions, server killed (SIGKILL) and restarted\n`,
  );
  console.log('| metric | value |\n| --- | --- |');
  console.log(`| server down (kill to listening again) | ${restartMs} ms |`);
  console.log(`| first disconnect to every client resumed | ${r.resumeMs} ms |`);
  console.log(`| CPU of the 2000 clients' process while they resumed (one core) | ${r.clientCpuPercent} % |`);
  console.log(
    `| restarted server's CPU, start to end of the audit | ${serverCpuSeconds?.toFixed(2) ?? '-'} s |`,
  );
  console.log(`| resumed / snapshot / not resumed | ${r.resumed} / ${r.snapshots} / ${r.notResumed} |`);
  console.log(`| acknowledged or offline edits lost / duplicated | ${r.lostEdits} / ${r.duplicatedEdits} |`);
  console.log(`| clients whose text differs from the server's | ${r.divergedClients} |`);
  console.log(`| time to connect the ${clients} clients first | ${r.joinMs} ms |`);
}
