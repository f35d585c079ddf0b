// The cluster scenario: the same typing load against one instance and against two instances of a
// cluster (PostgreSQL log + Redis bus), and against one instance on SQLite for the cost of the
// shared log. This machine has two cores: every server instance is pinned to core 0 (two instances
// share it) and the generator to core 1; PostgreSQL and Redis are not pinned and compete with both.
// So the figures say what a cluster costs per delivery and what the PostgreSQL round trip adds to a
// commit — not how far two machines would scale.
//
//   npm run build && node dist/bench/cluster.js [--repeat 2] [--duration 8000]
// (also `npm run bench -- --scenario cluster`)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { LoadReport } from '../src/loadgen/load-generator.js';
import { OPTIONS } from '../src/server/config.js';
import { bin, pin } from './systems.js';

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

/** Mean commit time and events per commit, from an instance's /metrics. */
async function commitStats(i: Instance): Promise<{ commits: number; seconds: number; events: number }> {
  const text = await fetch(`http://127.0.0.1:${i.metricsPort}/metrics`).then((r) => r.text());
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    commits: value('livereview_commit_duration_seconds_count'),
    seconds: value('livereview_commit_duration_seconds_sum'),
    events: value('livereview_committed_events_total'),
  };
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
  reports: (LoadReport & { commitMs: number; eventsPerCommit: number })[];
}

export async function runClusterScenario(repeat: number, durationMs: number): Promise<string> {
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
    '100',
    '--participants',
    '5',
    '--rate',
    '5',
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
        const report = await generate(instances, [
          ...load,
          '--session-prefix',
          `cluster-${r}-${k}-${Date.now()}`,
        ]);
        const stats = await Promise.all(instances.map(commitStats));
        const commits = stats.reduce((n, s) => n + s.commits, 0);
        rows[k]!.reports.push({
          ...report,
          commitMs: commits ? (stats.reduce((n, s) => n + s.seconds, 0) / commits) * 1000 : 0,
          eventsPerCommit: commits ? stats.reduce((n, s) => n + s.events, 0) / commits : 0,
        });
      } finally {
        await Promise.all(instances.map(stop));
      }
    }
  }
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const f = (n: number, d = 1) => n.toFixed(d);
  const lines = [
    `## Cluster: 100 sessions x 5 participants x 5 edits/s, ${durationMs} ms measured, ${repeat} runs each (medians)`,
    `every server instance pinned to core 0 (two instances share it), the generator to core 1; PostgreSQL and Redis unpinned; ${cpus().length} x ${cpus()[0]?.model}`,
    '',
    '| configuration | delivered/s | lost | p50 ms | p99 ms | server CPU % of a core | server CPU µs per delivery | commit ms (mean) | events per commit |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    const rs = row.reports;
    const m = (pick: (r: Row['reports'][number]) => number) => median(rs.map(pick));
    const cpuPerDelivery = m((r) => (r.server ? (r.server.cpuSeconds * 1e6) / Math.max(1, r.delivered) : 0));
    lines.push(
      `| ${row.config} | ${m((r) => r.deliveredPerSecond)} | ${Math.max(0, ...rs.map((r) => r.lost))} | ${f(
        m((r) => r.latencyMs.p50),
        2,
      )} | ${f(
        m((r) => r.latencyMs.p99),
        2,
      )} | ${f(m((r) => r.server?.cpuPercentOfCore ?? 0))} | ${f(cpuPerDelivery)} | ${f(
        m((r) => r.commitMs),
        2,
      )} | ${f(m((r) => r.eventsPerCommit))} |`,
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
  console.log(await runClusterScenario(arg('repeat', 2), arg('duration', 8000)));
  process.exit(0);
}
