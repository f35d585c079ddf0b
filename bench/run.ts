// Runs each scenario against the floor (a bare grpc-js broadcast server, bench/floor-server.ts),
// LiveReview (OT, the durable SQLite log, metrics, back-pressure all on), and the servers a team
// would otherwise pick — ShareDB and Hocuspocus, in memory, each driven by its own client
// (bench/peers/) — under the same load: server pinned to core 0, load generator (its own process) to
// core 1. Prints each system's figures and LiveReview's ratio to each of the others.
// Run: npm run bench -- [options]; `npm run bench -- --help` lists them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { procStat } from '../src/loadgen/load-generator.js';
import {
  DEFAULT_SYSTEMS,
  GRPC,
  LABELS,
  SHORT,
  SYSTEMS,
  generate,
  pin,
  root,
  setNiceness,
  setServerNodeFlags,
  startNeighbours,
  startServer,
  type GeneratedReport,
  type System,
} from './systems.js';

const SCENARIOS = ['rates', 'typing', 'contended', 'overload', 'idle', 'resume', 'cluster'] as const;
const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    systems: { type: 'string', default: DEFAULT_SYSTEMS.join(',') },
    duration: { type: 'string', default: '8000' },
    repeat: { type: 'string', default: '3' },
    rates: { type: 'string', default: '20,50,100,200,400' },
    nice: { type: 'string' },
    'server-node-flags': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log(`Usage: npm run bench -- [options]

  --scenario <list>           ${SCENARIOS.join(',')} or all (default: all)
  --systems <list>            ${SYSTEMS.join(',')} (default: ${DEFAULT_SYSTEMS.join(',')})
  --rates <list>              edits/s per participant of the "rates" scenario (default: 20,50,100,200,400)
  --duration <ms>             measured time per run (default: 8000), after a 2 s warm-up
  --repeat <n>                runs per system and scenario, alternating (default: 3)
  --nice <n>                  run servers and generators at this niceness, e.g. -10 on a shared machine
  --server-node-flags <flags> Node flags for every system's server, e.g. "--single-threaded-gc"`);
  process.exit(0);
}
if (args.nice !== undefined) setNiceness(Number(args.nice));
if (args['server-node-flags']) setServerNodeFlags(args['server-node-flags'].split(/\s+/).filter(Boolean));
const DURATION = Number(args.duration);
const REPEAT = Math.max(1, Number(args.repeat));
const scenarios = new Set(args.scenario === 'all' ? SCENARIOS : args.scenario!.split(','));
const selected = args.systems!.split(',') as System[];
for (const s of scenarios)
  if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}: ${SCENARIOS}`);
for (const s of selected)
  if (!(SYSTEMS as readonly string[]).includes(s)) throw new Error(`unknown system ${s}: ${SYSTEMS}`);

type Report = GeneratedReport & { diverged?: number };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const f = (n: number | undefined, d = 1) => (n === undefined ? '-' : n.toFixed(d));

interface Metric {
  name: string;
  of(r: Report): number | undefined;
  digits: number;
  /** The worst run (a loss in any run is a loss) instead of the median. */
  worst?: boolean;
  /** Show min–max across runs. */
  spread?: boolean;
  /** Show LiveReview's ratio to the others. */
  ratio?: boolean;
}

const cpuPerDelivery = (r: Report) =>
  r.server && r.delivered ? (r.server.cpuSeconds / r.delivered) * 1e6 : undefined;
const kbPerParticipant = (r: Report) =>
  r.server &&
  ((r.server.rssAfterJoinMb - r.server.rssBeforeMb) * 1024) / (r.options.sessions * r.options.participants);

const METRICS: Metric[] = [
  // A generator that cannot keep up types less than offered: this says what the server was given.
  { name: 'edits typed/s', of: (r) => r.sent / r.measuredSeconds, digits: 0 },
  { name: 'delivered/s', of: (r) => r.deliveredPerSecond, digits: 0, ratio: true },
  { name: 'lost (worst run)', of: (r) => r.lost, digits: 0, worst: true },
  // The gRPC generator's only: lost edits the server had acknowledged (the rest were refused or
  // never read, under back-pressure). The peers' clients keep what they cannot send.
  { name: 'of which acknowledged (worst run)', of: (r) => r.lostAcknowledged, digits: 0, worst: true },
  { name: 'duplicated (worst run)', of: (r) => r.duplicated, digits: 0, worst: true },
  { name: 'documents diverged after the drain', of: (r) => r.diverged, digits: 0, worst: true },
  { name: 'streams cut off', of: (r) => r.streamsEnded, digits: 0, worst: true },
  { name: 'edits refused', of: (r) => r.refused, digits: 0, worst: true },
  { name: 'server CPU % of a core', of: (r) => r.server?.cpuPercentOfCore, digits: 1, ratio: true },
  { name: 'server CPU µs per delivery', of: cpuPerDelivery, digits: 2, spread: true, ratio: true },
  // Where a server's CPU goes: its event loop, or the threads beside it (LoadReport's server).
  {
    name: 'server CPU µs per delivery, main thread',
    of: (r) => (r.server && r.delivered ? (r.server.mainThreadCpuSeconds / r.delivered) * 1e6 : undefined),
    digits: 2,
    spread: true,
    ratio: true,
  },
  { name: 'latency p50 ms', of: (r) => r.latencyMs.p50, digits: 2, spread: true, ratio: true },
  { name: 'latency p99 ms', of: (r) => r.latencyMs.p99, digits: 2, spread: true, ratio: true },
  { name: 'latency p99.9 ms', of: (r) => r.latencyMs.p999, digits: 2 },
  { name: 'server peak RSS MB', of: (r) => r.server?.peakRssMb, digits: 1, ratio: true },
  // Warm-up included: the collections that make a p99 (docs/benchmarks.md, "2026-12-03, afternoon").
  { name: 'server major GCs in the run', of: (r) => r.serverGc?.major, digits: 0, spread: true },
  { name: 'server major GC pauses ms', of: (r) => r.serverGc?.majorMs, digits: 1, spread: true },
  // The disk under the durable store: every append waits for a flush (docs/benchmarks.md,
  // "2026-12-03, evening: the durable store wrote 36 pages per commit; now a page or two").
  {
    name: 'server WAL flushes per second',
    of: (r) => r.serverStore?.flushesPerSecond,
    digits: 0,
    spread: true,
  },
  { name: 'server WAL flush mean ms', of: (r) => r.serverStore?.flushMeanMs, digits: 2, spread: true },
  {
    name: 'server commits held by checkpoints, ms per second',
    of: (r) => r.serverStore?.heldMsPerSecond,
    digits: 1,
    spread: true,
  },
  { name: 'generator CPU % of its core', of: (r) => r.generator.cpuPercentOfCore, digits: 1 },
  {
    name: "server's core taken by other processes %",
    of: (r) => r.serverCoreTakenPercent,
    digits: 1,
    spread: true,
  },
];
const IDLE_METRICS: Metric[] = [
  {
    name: 'KB of server RSS per idle participant',
    of: kbPerParticipant,
    digits: 1,
    spread: true,
    ratio: true,
  },
  { name: 'server RSS before joins MB', of: (r) => r.server?.rssBeforeMb, digits: 1 },
  { name: 'time to join all (ms)', of: (r) => r.joinMs, digits: 0, ratio: true },
  METRICS.at(-1)!,
];

function aggregate(m: Metric, runs: Report[]): number | undefined {
  const values = runs.map((r) => m.of(r)).filter((x): x is number => x !== undefined);
  if (!values.length) return undefined;
  return m.worst ? Math.max(...values) : median(values);
}

/** "median (min–max)" across runs; the worst for losses. */
function cell(m: Metric, runs: Report[]): string {
  if (!runs.length) return 'failed';
  const value = aggregate(m, runs);
  const values = runs.map((r) => m.of(r)).filter((x): x is number => x !== undefined);
  const spread =
    m.spread && values.length > 1
      ? ` (${f(Math.min(...values), m.digits)}–${f(Math.max(...values), m.digits)})`
      : '';
  return f(value, m.digits) + spread;
}

/** "min–max" across runs (one value if they agree), for the summary. */
function range(m: Metric, runs: Report[]): string {
  const values = runs.map((r) => m.of(r)).filter((x): x is number => x !== undefined);
  if (!values.length) return '-';
  if (m.worst) return f(Math.max(...values), m.digits);
  const [lo, hi] = [f(Math.min(...values), m.digits), f(Math.max(...values), m.digits)];
  return lo === hi ? lo : `${lo}–${hi}`;
}

type Runs = Map<System, Report[]>;

/** " (a–b by round)": the ratio within each round, run i of one system against run i of the other.
 * Rounds run one after the other, so a VM that slows down for a minute moves both sides of a round
 * together, where the medians of each side may come from different minutes. Empty unless every run
 * of both completed (a failed run would pair runs of different rounds). */
function roundRatios(m: Metric, runs: Report[], against: Report[]): string {
  if (runs.length < 2 || runs.length !== REPEAT || against.length !== REPEAT) return '';
  const ratios: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const a = m.of(runs[i]!);
    const b = m.of(against[i]!);
    if (a === undefined || !b) return '';
    ratios.push(a / b);
  }
  return ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} by round)`;
}

function printTable(title: string, runs: Runs, metrics: Metric[]): void {
  const systems = [...runs.keys()];
  const lr = runs.get('livereview');
  const others = lr ? systems.filter((s) => s !== 'livereview') : [];
  const head = ['metric', ...systems.map((s) => LABELS[s]), ...others.map((s) => `LiveReview / ${SHORT[s]}`)];
  console.log(`\n### ${title}\n`);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${' --- |'.repeat(head.length)}`);
  for (const m of metrics) {
    const ratios = others.map((s) => {
      const a = lr && aggregate(m, lr);
      const b = aggregate(m, runs.get(s)!);
      if (!m.ratio || a === undefined || !b) return '';
      return `${(a / b).toFixed(2)}x${m.spread && lr ? roundRatios(m, lr, runs.get(s)!) : ''}`;
    });
    console.log(`| ${[m.name, ...systems.map((s) => cell(m, runs.get(s)!)), ...ratios].join(' | ')} |`);
  }
}

/** Runs the load against every selected system that can take it, alternating, REPEAT times each (a
 * fresh server per run), and prints the medians side by side. */
async function compare(
  title: string,
  load: string[],
  {
    only,
    metrics = METRICS,
    neighbours = 0,
  }: { only?: readonly System[]; metrics?: Metric[]; neighbours?: number } = {},
): Promise<Runs> {
  const systems = selected.filter((s) => !only || only.includes(s));
  const runs: Runs = new Map(systems.map((s) => [s, []]));
  for (let i = 0; i < REPEAT; i++) {
    for (const system of systems) {
      const server = await startServer(system);
      const stopNeighbours = startNeighbours(neighbours);
      try {
        runs.get(system)!.push(await generate(system, server, load));
      } catch (e) {
        console.error(`${system}, run ${i + 1} of "${title}" failed: ${(e as Error).message}`);
      } finally {
        await stopNeighbours();
        await server.stop();
      }
    }
  }
  printTable(title, runs, metrics);
  return runs;
}

/** The figures issue 14 tracks, one row per scenario, gathered as the scenarios run. */
const summary: { row: string; cells: Map<System, string> }[] = [];
const summarise = (row: string, runs: Runs, text: (r: Report[]) => string) =>
  summary.push({ row, cells: new Map([...runs].map(([s, r]) => [s, r.length ? text(r) : 'failed'])) });
const metric = (name: string) => [...METRICS, ...IDLE_METRICS].find((m) => m.name === name)!;

const version = (pkg: string) =>
  (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string })
    .version;
console.log(
  `# LiveReview benchmarks — ${new Date().toISOString()}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model}`,
);
console.log(`command: npm run bench -- ${process.argv.slice(2).join(' ')}`);
console.log(
  `server pinned to core 0, generator to core 1 (taskset); ${DURATION} ms measured per run after a 2 s warm-up; ` +
    `${REPEAT} runs per system and scenario, alternating: medians, (min–max) across runs, worst-case losses; ` +
    `ShareDB ${version('sharedb')} and Hocuspocus ${version('@hocuspocus/server')} in memory, with their own clients` +
    (args.nice === undefined ? '' : `; servers and generators at niceness ${args.nice}`),
);
const d = ['--duration', String(DURATION), '--warmup', '2000'];
const oneSession = (rate: number) => [
  '--sessions',
  '1',
  '--participants',
  '10',
  '--rate',
  String(rate),
  ...d,
];

if (scenarios.has('rates')) {
  for (const rate of args.rates!.split(',').map(Number)) {
    const runs = await compare(
      `1 session x 10 participants at ${rate} edits/s each (${rate * 90} deliveries/s offered)`,
      oneSession(rate),
    );
    if (rate === 200)
      summarise('1 session x 10 x 200 edits/s: server CPU µs per delivery', runs, (r) =>
        range(metric('server CPU µs per delivery'), r),
      );
  }
}
if (scenarios.has('typing')) {
  const typing = ['--sessions', '100', '--participants', '5', '--rate', '5', ...d];
  const runs = await compare(
    '100 sessions x 5 participants x 5 edits/s (human typing), one connection each',
    typing,
  );
  summarise(
    '100 sessions x 5 x 5 edits/s: p50 / p99 ms',
    runs,
    (r) => `${range(metric('latency p50 ms'), r)} / ${range(metric('latency p99 ms'), r)}`,
  );
  summarise('same: server CPU % of a core', runs, (r) => range(metric('server CPU % of a core'), r));
  summarise('same: server CPU µs per delivery', runs, (r) => range(metric('server CPU µs per delivery'), r));
  await compare(
    '100 sessions x 5 participants x 5 edits/s, generator on one shared channel',
    [...typing, '--shared-channel'],
    { only: GRPC },
  );
}
if (scenarios.has('contended')) {
  // A busy machine: the server's core shared with two busy loops for the whole run, so that each
  // server has about a third of it for a load that takes LiveReview ~40 % of a quiet one. A server
  // whose work per edit grows with its lag never catches up once behind (docs/benchmarks.md,
  // 2026-12-03: LiveReview's rebase did, until keystrokes were transformed by arithmetic).
  const runs = await compare(
    '1 session x 10 participants at 200 edits/s each, the server sharing its core with two busy loops',
    oneSession(200),
    { neighbours: 2 },
  );
  summarise(
    "1 session x 10 x 200 edits/s, the server's core shared with two busy loops: delivered/s; p50 ms; edits refused",
    runs,
    (r) =>
      [metric('delivered/s'), metric('latency p50 ms'), metric('edits refused')]
        .map((m) => range(m, r))
        .join('; '),
  );
}
if (scenarios.has('overload')) {
  const runs = await compare(
    '1 session x 10 participants at 1 600 edits/s each (overload: 144 000 deliveries/s offered)',
    oneSession(1600),
  );
  // A server that cuts its streams off receives nothing more, so loses nothing more: say both, and
  // how much the generator managed to type (a client that cannot keep up offers less).
  summarise(
    '1 session x 10 x 1 600 edits/s (overload): edits typed/s; lost, streams cut off; peak RSS MB',
    runs,
    (r) =>
      `${range(metric('edits typed/s'), r)}; ${range(metric('lost (worst run)'), r)} ` +
      `(${range(metric('of which acknowledged (worst run)'), r)} acknowledged), ` +
      `${range(metric('streams cut off'), r)}; ${range(metric('server peak RSS MB'), r)}`,
  );
}
if (scenarios.has('idle')) {
  const idle = (sessions: number) => [
    '--sessions',
    String(sessions),
    '--participants',
    '100',
    '--rate',
    '0',
    '--duration',
    '2000',
    '--warmup',
    '0',
  ];
  // What a participant costs at the margin: the RSS after 2,000 joins less the RSS after 1,000. The
  // figure from an idle server (the first row of each table) also holds what any server grows
  // once under load whatever the number of participants, such as V8's young generation reaching
  // its full size: a server that starts smaller shows more per participant that way.
  const half = await compare('1 000 idle participants (10 sessions x 100), one connection each', idle(10), {
    metrics: IDLE_METRICS,
  });
  const title = '2 000 idle participants (20 sessions x 100), one connection each';
  const runs = await compare(title, idle(20), { metrics: IDLE_METRICS });
  const marginal = new Map(
    [...runs].map(([system, full]) => {
      const after = (rs: Report[]) => median(rs.map((r) => r.server?.rssAfterJoinMb ?? NaN));
      return [system, ((after(full) - after(half.get(system) ?? [])) * 1024) / 1000] as const;
    }),
  );
  const lr = marginal.get('livereview');
  console.log(
    `| KB of server RSS per idle participant, from 1 000 to 2 000 (medians) | ${[...marginal.values()]
      .map((kb) => (Number.isFinite(kb) ? kb.toFixed(1) : 'failed'))
      .join(' | ')} |${[...marginal]
      .filter(([s]) => lr !== undefined && s !== 'livereview')
      .map(([, kb]) => ` ${(lr! / kb).toFixed(2)}x |`)
      .join('')}`,
  );
  summarise(
    '2 000 idle participants: KB of server RSS each, from 1 000 to 2 000; from an idle server',
    runs,
    (r) => {
      const system = [...runs].find(([, rs]) => rs === r)![0];
      return `${marginal.get(system)!.toFixed(1)}; ${range(metric('KB of server RSS per idle participant'), r)}`;
    },
  );
}

if (summary.length) {
  const systems = selected;
  console.log(`\n### Summary\n`);
  console.log(`| | ${systems.map((s) => LABELS[s]).join(' | ')} |`);
  console.log(`|${' --- |'.repeat(1 + systems.length)}`);
  for (const { row, cells } of summary)
    console.log(`| ${row} | ${systems.map((s) => cells.get(s) ?? '-').join(' | ')} |`);
}

if (scenarios.has('resume')) {
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

if (scenarios.has('cluster')) {
  const { runClusterScenario } = await import('./cluster.js');
  console.log('\n' + (await runClusterScenario(REPEAT, DURATION)));
}
