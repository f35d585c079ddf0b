// The cluster scenario: the same typing load against one instance and against two instances of a
// cluster (PostgreSQL log + Redis bus), and against one instance on SQLite for the cost of the
// shared log. This machine has two cores: every server instance is pinned to core 0 (two instances
// share it) and the generator to core 1; PostgreSQL and Redis are not pinned and compete with both.
// So the figures say what a cluster costs per delivery and what the PostgreSQL round trip adds to a
// commit — not how far two machines would scale.
//
//   npm run build && node dist/bench/cluster.js [--repeat 2] [--duration 8000] [--sessions 100]
//       [--participants 5] [--rate 5]
// (also `npm run bench -- --scenario cluster`)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { procStats, type LoadReport } from '../src/loadgen/load-generator.js';
import { OPTIONS } from '../src/server/config.js';
import { bin, coreTicks, pin } from './systems.js';

const hasHttpEdge = OPTIONS.some((o) => (o.key as string) === 'httpPort');

const MAINTENANCE_URL =
  process.env.LIVEREVIEW_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.LIVEREVIEW_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Instance {
  pid: number;
  port: number;
  metricsPort: number;
  child: ChildProcess;
}

async function startInstance(data: string, extra: string[]): Promise<Instance> {
  const argv = [
    process.execPath,
    bin,
    'serve',
    '--port',
    '0',
    '--metrics-port',
    '0',
    // Two instances share this machine: no HTTP edge (its port is fixed), where the build has one.
    ...(hasHttpEdge ? ['--http-port', '-1'] : []),
    '--data',
    data,
    '--log-level',
    'warn',
    '--rate-user-per-second',
    '0',
    '--rate-session-per-second',
    '0',
    ...extra,
  ];
  const [cmd, rest] = pin(0, argv);
  const child = spawn(cmd, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const ports = await new Promise<{ port: number; metricsPort: number }>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const grpcPort = /listening on \S*:(\d+)/.exec(err);
      const metrics = /metrics: http:\/\/\S*:(\d+)\//.exec(err);
      if (grpcPort && metrics) resolve({ port: Number(grpcPort[1]), metricsPort: Number(metrics[1]) });
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { pid: child.pid!, child, ...ports };
}

async function stop(i: Instance): Promise<void> {
  if (i.child.exitCode !== null) return;
  const exited = new Promise((r) => i.child.once('exit', r));
  i.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (i.child.exitCode === null) i.child.kill('SIGKILL');
}

/** Mean commit time and events per commit, and batches that lost the append race to another
 * instance (0 where the build has no such counter), from an instance's /metrics. */
async function commitStats(
  i: Instance,
): Promise<{ commits: number; seconds: number; events: number; conflicts: number }> {
  const text = await fetch(`http://127.0.0.1:${i.metricsPort}/metrics`).then((r) => r.text());
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    commits: value('livereview_commit_duration_seconds_count'),
    seconds: value('livereview_commit_duration_seconds_sum'),
    events: value('livereview_committed_events_total'),
    conflicts: value('livereview_commit_conflicts_total'),
  };
}

/** CPU seconds so far of every PostgreSQL and Redis process on this machine, with the children
 * PostgreSQL's postmaster has reaped (backends of connections that ended during the run). They are
 * the cluster's shared services: what a cluster costs includes them. */
function servicesCpuSeconds(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== 'postgres' && comm !== 'redis-server') continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime (fields 14-17 of /proc/PID/stat)
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / 100; // USER_HZ
}

interface Measured extends LoadReport {
  commitMs: number;
  eventsPerCommit: number;
  /** Batches that lost the append race to another instance, per 1,000 committed events. */
  conflictsPerThousand: number;
  /** CPU of PostgreSQL and Redis during the run, µs per delivery. */
  servicesUsPerDelivery: number;
  /** Of core 0 (the instances' core), the share neither the instances nor idle took: other
   * processes, PostgreSQL and Redis when they ran there, the hypervisor. */
  core0TakenPercent: number;
}

async function generate(instances: Instance[], load: string[]): Promise<LoadReport> {
  const argv = [
    process.execPath,
    bin,
    'bench',
    '--target',
    ...instances.map((i) => `127.0.0.1:${i.port}`),
    '--server-pid',
    ...instances.map((i) => String(i.pid)),
    '--json',
    ...load,
  ];
  const [cmd, rest] = pin(1, argv);
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  try {
    return JSON.parse(out) as LoadReport;
  } catch {
    throw new Error(`load generator exited ${code} without a report`);
  }
}

interface Row {
  config: string;
  reports: Measured[];
}

/** The typing load: sessions x participants, each typing `rate` edits/s. */
export interface ClusterLoad {
  sessions: number;
  participants: number;
  rate: number;
}

export async function runClusterScenario(
  repeat: number,
  durationMs: number,
  typing: ClusterLoad = { sessions: 100, participants: 5, rate: 5 },
): Promise<string> {
  const admin = new pg.Client({ connectionString: MAINTENANCE_URL });
  await admin.connect();
  const database = `lr_bench_${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(MAINTENANCE_URL);
  url.pathname = `/${database}`;
  const configs: { name: string; start: () => Promise<Instance[]> }[] = [
    {
      name: 'one instance, SQLite',
      start: async () => [await startInstance(mkdtempSync(join(tmpdir(), 'lr-bench-')), [])],
    },
    { name: 'one instance, PostgreSQL', start: async () => [await startInstance(url.toString(), [])] },
    {
      name: 'two instances, PostgreSQL + Redis',
      start: async () => Promise.all([0, 1].map(() => startInstance(url.toString(), ['--bus', REDIS_URL]))),
    },
  ];
  const load = [
    '--sessions',
    String(typing.sessions),
    '--participants',
    String(typing.participants),
    '--rate',
    String(typing.rate),
    '--duration',
    String(durationMs),
    '--warmup',
    '2000',
  ];
  const rows: Row[] = configs.map((c) => ({ config: c.name, reports: [] }));
  for (let r = 0; r < repeat; r++) {
    for (const [k, c] of configs.entries()) {
      const instances = await c.start();
      try {
        const pids = instances.map((i) => i.pid);
        const core0 = coreTicks(0);
        const instances0 = procStats(pids)?.cpuSeconds ?? 0;
        const services0 = servicesCpuSeconds();
        const report = await generate(instances, [
          ...load,
          '--session-prefix',
          `cluster-${r}-${k}-${Date.now()}`,
        ]);
        const core1 = coreTicks(0);
        const instanceTicks = ((procStats(pids)?.cpuSeconds ?? 0) - instances0) * 100;
        const servicesSeconds = servicesCpuSeconds() - services0;
        const stats = await Promise.all(instances.map(commitStats));
        const commits = stats.reduce((n, s) => n + s.commits, 0);
        rows[k]!.reports.push({
          ...report,
          commitMs: commits ? (stats.reduce((n, s) => n + s.seconds, 0) / commits) * 1000 : 0,
          eventsPerCommit: commits ? stats.reduce((n, s) => n + s.events, 0) / commits : 0,
          conflictsPerThousand:
            (stats.reduce((n, s) => n + s.conflicts, 0) * 1000) /
            Math.max(
              1,
              stats.reduce((n, s) => n + s.events, 0),
            ),
          servicesUsPerDelivery: (servicesSeconds * 1e6) / Math.max(1, report.delivered),
          core0TakenPercent:
            core1.total > core0.total
              ? Math.max(0, ((core1.busy - core0.busy - instanceTicks) / (core1.total - core0.total)) * 100)
              : 0,
        });
      } finally {
        await Promise.all(instances.map(stop));
      }
    }
  }
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();

  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const median = (xs: number[]) => {
    const s = sorted(xs);
    const mid = s.length >> 1;
    return s.length === 0 ? 0 : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const f = (n: number, d = 1) => n.toFixed(d);
  /** The median with the range across runs. */
  const spread = (xs: number[], d = 1) =>
    xs.length > 1
      ? `${f(median(xs), d)} (${f(sorted(xs)[0]!, d)}–${f(sorted(xs).at(-1)!, d)})`
      : f(median(xs), d);
  const cpuPerDelivery = (r: Measured) =>
    r.server ? (r.server.cpuSeconds * 1e6) / Math.max(1, r.delivered) : 0;
  const lines = [
    `## Cluster: ${typing.sessions} sessions x ${typing.participants} participants x ${typing.rate} edits/s, ${durationMs} ms measured, ${repeat} runs each (medians, min–max)`,
    `every server instance pinned to core 0 (two instances share it), the generator to core 1; PostgreSQL and Redis unpinned; ${cpus().length} x ${cpus()[0]?.model}`,
    '',
    '| configuration | delivered/s | lost | p50 ms | p99 ms | server CPU % of a core | server CPU µs per delivery | PostgreSQL + Redis CPU µs per delivery | commit ms (mean) | events per commit | conflicts per 1,000 events | core 0 taken by others % |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    const rs = row.reports;
    const of = (pick: (r: Measured) => number, d = 1) => spread(rs.map(pick), d);
    lines.push(
      `| ${row.config} | ${median(rs.map((r) => r.deliveredPerSecond))} | ${Math.max(0, ...rs.map((r) => r.lost))} | ${of(
        (r) => r.latencyMs.p50,
        2,
      )} | ${of((r) => r.latencyMs.p99, 2)} | ${of((r) => r.server?.cpuPercentOfCore ?? 0)} | ${of(cpuPerDelivery)} | ${of(
        (r) => r.servicesUsPerDelivery,
      )} | ${of((r) => r.commitMs, 2)} | ${of((r) => r.eventsPerCommit)} | ${of((r) => r.conflictsPerThousand)} | ${of(
        (r) => r.core0TakenPercent,
        0,
      )} |`,
    );
  }
  // Ratios to the first configuration (one instance on SQLite), run by run: each pair ran
  // back to back, so they share the machine's disturbance more than the medians do.
  const base = rows[0]!.reports;
  lines.push(
    '',
    `Ratios to "${rows[0]!.config}", run by run (median, min–max):`,
    '',
    '| configuration | p50 | p99 | server CPU µs per delivery | server + PostgreSQL + Redis CPU µs per delivery |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const row of rows.slice(1)) {
    const ratio = (pick: (r: Measured) => number) =>
      `${spread(
        row.reports.map((r, i) => pick(r) / Math.max(1e-9, pick(base[i]!))),
        2,
      )}x`;
    lines.push(
      `| ${row.config} | ${ratio((r) => r.latencyMs.p50)} | ${ratio((r) => r.latencyMs.p99)} | ${ratio(cpuPerDelivery)} | ${ratio(
        (r) => cpuPerDelivery(r) + r.servicesUsPerDelivery,
      )} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  console.log(`# LiveReview cluster benchmark — ${new Date().toISOString()}, node ${process.version}`);
  console.log(
    await runClusterScenario(arg('repeat', 2), arg('duration', 8000), {
      sessions: arg('sessions', 100),
      participants: arg('participants', 5),
      rate: arg('rate', 5),
    }),
  );
  process.exit(0);
}
