// The systems the runner compares, each a server process pinned to core 0 and a load generator
// process, with that system's own client, pinned to core 1: the floor and LiveReview driven by
// `livereview bench` (gRPC), ShareDB and Hocuspocus by bench/peers/generator.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procStat, type LoadReport } from '../src/loadgen/load-generator.js';
import type { GcTotals } from './gc-meter.js';

/** /proc/stat's clock tick (USER_HZ), as procStat assumes. */
const CLK_TCK = 100;

export const SYSTEMS = [
  'floor',
  'floor-ack',
  'livereview',
  'livereview-memory',
  'sharedb',
  'hocuspocus',
] as const;
export type System = (typeof SYSTEMS)[number];
/** What `npm run bench` compares unless told otherwise. */
export const DEFAULT_SYSTEMS: readonly System[] = ['floor', 'livereview', 'sharedb', 'hocuspocus'];

export const LABELS: Record<System, string> = {
  floor: 'floor (bare grpc-js)',
  'floor-ack': 'floor + acks',
  livereview: 'LiveReview',
  'livereview-memory': 'LiveReview :memory:',
  sharedb: 'ShareDB (memory)',
  hocuspocus: 'Hocuspocus (memory)',
};
export const SHORT: Record<System, string> = {
  floor: 'floor',
  'floor-ack': 'floor + acks',
  livereview: 'LiveReview',
  'livereview-memory': ':memory:',
  sharedb: 'ShareDB',
  hocuspocus: 'Hocuspocus',
};

/** Speak the LiveReview .proto: the gRPC-only scenarios (a shared channel) run only these. */
export const GRPC: readonly System[] = ['floor', 'floor-ack', 'livereview', 'livereview-memory'];

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const bin = join(root, 'bin/livereview.js');

/** A niceness for the benchmark's processes (`--nice`, e.g. -10 as root): on a shared machine the
 * server's pinned core is otherwise taken by whatever else runs (the runner reports how much), and
 * latency then measures the neighbours. Every system gets the same. */
let niceness: number | undefined;
export function setNiceness(n: number | undefined): void {
  niceness = n;
}

/** `argv` pinned to `core`, at the benchmark's niceness unless `nice` is false. */
export const pin = (core: number, argv: string[], nice = true): [string, string[]] => {
  const pinned = cpus().length >= 2 ? ['taskset', '-c', String(core), ...argv] : argv;
  const full = niceness === undefined || !nice ? pinned : ['nice', '-n', String(niceness), ...pinned];
  return [full[0]!, full.slice(1)];
};

/**
 * Starts `count` busy loops on the servers' core, at the default priority whatever `--nice` says:
 * noisy neighbours that leave a server 1/(count + 1) of its core. Resolves to what stops them.
 */
export function startNeighbours(count: number): () => Promise<void> {
  const loops = Array.from({ length: count }, () => {
    const [cmd, rest] = pin(0, [process.execPath, '-e', 'for (;;) {}'], false);
    return spawn(cmd, rest, { stdio: 'ignore' });
  });
  return async () => {
    for (const loop of loops) loop.kill('SIGKILL');
    await Promise.all(loops.map(exited));
  };
}

export interface Server {
  pid: number;
  port: number;
  data: string;
  /** Its garbage collections so far (undefined: not known yet). */
  gc(): GcTotals | undefined;
  /** LiveReview's embedded store on disk: its WAL flushes and checkpoint holds so far, from its
   * /metrics (undefined for other systems and `:memory:`). */
  store(): Promise<StoreTotals | undefined>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Node flags every system's server runs with (`npm run bench -- --server-node-flags`). */
let serverNodeFlags: string[] = [];
export function setServerNodeFlags(flags: string[]): void {
  serverNodeFlags = flags;
}

/** Totals of the store's histograms in LiveReview's /metrics (see SqliteStoreObserver). */
export interface StoreTotals {
  flushes: number;
  flushSeconds: number;
  holds: number;
  heldSeconds: number;
  /** performance.now() of the harness when read. */
  at: number;
}

async function readStoreTotals(metricsPort: number): Promise<StoreTotals | undefined> {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const totals = {
    flushes: value('livereview_store_wal_flush_seconds_count'),
    flushSeconds: value('livereview_store_wal_flush_seconds_sum'),
    holds: value('livereview_store_commits_held_seconds_count'),
    heldSeconds: value('livereview_store_commits_held_seconds_sum'),
    at: performance.now(),
  };
  return Number.isNaN(totals.flushes) ? undefined : totals;
}

/** Counts each server's garbage collections (see gc-meter.ts). */
const gcMeter = new URL('./gc-meter.js', import.meta.url).href;

function serverArgv(system: System, port: number, data: string): string[] {
  const node = [process.execPath, '--import', gcMeter, ...serverNodeFlags];
  switch (system) {
    case 'floor':
      return [...node, join(root, 'dist/bench/floor-server.js'), String(port)];
    case 'floor-ack':
      return [...node, join(root, 'dist/bench/floor-server.js'), String(port), '--ack'];
    case 'sharedb':
      return [...node, join(root, 'dist/bench/peers/sharedb-server.js'), String(port)];
    case 'hocuspocus':
      return [...node, join(root, 'dist/bench/peers/hocuspocus-server.js'), String(port)];
    case 'livereview':
    case 'livereview-memory':
      return [
        ...node,
        bin,
        'serve',
        '--port',
        String(port),
        '--metrics-port',
        '0',
        '--http-port',
        '-1',
        '--data',
        system === 'livereview' ? data : ':memory:',
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
  }
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => child.once('exit', () => r()));

/** Starts a system's server on core 0; `reuse` restarts LiveReview on the same port and data. */
export async function startServer(system: System, reuse?: { port: number; data: string }): Promise<Server> {
  // Port 0: the OS picks a free one. A fixed guess can collide with one of the generator's
  // thousands of client connections, whose local ports come from the same ephemeral range.
  const data = reuse?.data ?? mkdtempSync(join(tmpdir(), 'lr-bench-'));
  // Outside the data directory: LiveReview locks that one for itself.
  const gcFile = `${data}.gc.json`;
  const [cmd, rest] = pin(0, serverArgv(system, reuse?.port ?? 0, data));
  const child = spawn(cmd, rest, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LIVEREVIEW_BENCH_GC_FILE: gcFile },
  });
  let metricsPort: number | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      metricsPort ??= Number(/metrics: http:\/\/\S+:(\d+)\/metrics/.exec(err)?.[1]) || undefined;
      const listening = /listening on \S*:(\d+)/.exec(err);
      if (listening && (metricsPort !== undefined || !system.startsWith('livereview')))
        resolve(Number(listening[1]));
    });
    child.once('exit', (code) => reject(new Error(`${system} exited ${code}: ${err}`)));
  });
  return {
    pid: child.pid!,
    port,
    data,
    gc: () => readGcTotals(gcFile),
    store: async () => (system === 'livereview' && metricsPort ? readStoreTotals(metricsPort) : undefined),
    kill: async () => {
      child.kill('SIGKILL');
      await exited(child);
    },
    stop: async () => {
      child.kill('SIGTERM');
      const stopped = await Promise.race([
        exited(child).then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 15_000)),
      ]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited(child);
      }
      rmSync(data, { recursive: true, force: true });
      rmSync(gcFile, { force: true });
    },
  };
}

function readGcTotals(file: string): GcTotals | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as GcTotals;
  } catch {
    return undefined; // not written yet, or being rewritten: no figure for this run
  }
}

/** A core's time so far, in clock ticks, from /proc/stat: spent in processes (and stolen by the
 * hypervisor), and in all. Interrupt time is left out of the first: it is mostly the loopback
 * traffic of the benchmark itself. */
export function coreTicks(core: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${core} `));
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line!.split(/\s+/).slice(1).map(Number);
  const busy = user! + nice! + system! + steal!;
  return { busy, total: busy + idle! + iowait! + irq! + softirq! };
}

export type GeneratedReport = LoadReport & {
  /** Of the server's core over the whole run, the share that neither the server nor idle took: other
   * processes (or the hypervisor) competing with it. The machine is shared; this says how much. */
  serverCoreTakenPercent?: number;
  /** The server's garbage collections while the generator ran (warm-up included), as counted to
   * within 200 ms by gc-meter.ts. */
  serverGc?: GcTotals;
  /** LiveReview's embedded store while the generator ran (warm-up included): its WAL flushes (each
   * append waits for one) and the time its checkpoints held commits. */
  serverStore?: { flushesPerSecond: number; flushMeanMs: number; heldMsPerSecond: number };
};

/** Runs the load generator for `system` against `server` on core 1 and returns its report. */
export async function generate(system: System, server: Server, load: string[]): Promise<GeneratedReport> {
  const core0 = coreTicks(0);
  const server0 = procStat(server.pid);
  const gc0 = server.gc();
  const store0 = await server.store();
  const generator = GRPC.includes(system)
    ? [bin, 'bench']
    : [join(root, 'dist/bench/peers/generator.js'), '--system', system];
  const argv = [
    process.execPath,
    ...generator,
    '--target',
    `127.0.0.1:${server.port}`,
    '--server-pid',
    String(server.pid),
    '--json',
    ...load,
  ];
  const [cmd, rest] = pin(1, argv);
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  // The gRPC generator draws a progress bar on stderr: keep only the end, for a failure's message.
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
  const code = await new Promise((r) => child.once('exit', r));
  const core1 = coreTicks(0);
  const server1 = procStat(server.pid);
  const gc1 = server.gc();
  const store1 = await server.store();
  let report: GeneratedReport;
  try {
    report = JSON.parse(out) as GeneratedReport;
  } catch {
    throw new Error(`${system} load generator exited ${code} without a report: ${err.trim()}`);
  }
  if (cpus().length >= 2 && server0 && server1 && core1.total > core0.total) {
    const serverTicks = (server1.cpuSeconds - server0.cpuSeconds) * CLK_TCK;
    report.serverCoreTakenPercent = Math.max(
      0,
      ((core1.busy - core0.busy - serverTicks) / (core1.total - core0.total)) * 100,
    );
  }
  if (store0 && store1 && store1.flushes > store0.flushes) {
    const seconds = (store1.at - store0.at) / 1000;
    report.serverStore = {
      flushesPerSecond: (store1.flushes - store0.flushes) / seconds,
      flushMeanMs: ((store1.flushSeconds - store0.flushSeconds) / (store1.flushes - store0.flushes)) * 1000,
      heldMsPerSecond: ((store1.heldSeconds - store0.heldSeconds) * 1000) / seconds,
    };
  }
  if (gc0 && gc1) {
    report.serverGc = {
      major: gc1.major - gc0.major,
      majorMs: gc1.majorMs - gc0.majorMs,
      minor: gc1.minor - gc0.minor,
      minorMs: gc1.minorMs - gc0.minorMs,
    };
  }
  return report;
}
