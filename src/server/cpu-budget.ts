// How many CPUs the process may run on, and what that means for V8's garbage collector.
//
// V8 runs its concurrent marking, sweeping and parallel scavenging on a pool of helper threads
// (four by default in Node). With one CPU those threads take turns with the event loop: each major
// collection's marking preempts it for tens of milliseconds. Under the typing load on one pinned
// core (100 sessions x 5 x 5 edits/s), the p99 from a keystroke to a peer was 24–44 ms with the
// helper threads and 11–18 ms without, at the same CPU (docs/benchmarks.md, "2026-12-04, late
// night" and "2026-12-05").
//
// `node --single-threaded-gc` turns them off from the start. From inside the process V8 takes all
// of that flag's parts but one: `--no-parallel-marking` aborts it in its next collection, and
// without concurrent marking the parallel marking only runs inside the collector's own pause, so
// the rest is what matters. V8 reads these flags when a collection starts; changing them while one
// is under way is not safe, so `livereview serve` does it first thing, before the server's modules
// load, while the heap holds a few MB and no marking has begun (the first starts at ~15 MB).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

/** The CPU quota of a cgroup directory, in CPUs; undefined when it has none or it is unreadable. */
function cgroupQuota(dir: string): number | undefined {
  try {
    // cgroup v2: "max 100000" (no quota) or "<quota µs> <period µs>".
    const [quota, period] = readFileSync(`${dir}/cpu.max`, 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0) return Number(quota) / Number(period);
    return undefined;
  } catch {
    // cgroup v1: cpu.cfs_quota_us is -1 without a quota.
    try {
      const quota = Number(readFileSync(`${dir}/cpu.cfs_quota_us`, 'utf8'));
      const period = Number(readFileSync(`${dir}/cpu.cfs_period_us`, 'utf8'));
      return quota > 0 && period > 0 ? quota / period : undefined;
    } catch {
      return undefined;
    }
  }
}

/** The smallest CPU quota on the way from this process's cgroup up to the root (Linux; undefined
 * elsewhere or without one). */
function cpuQuota(): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  } catch {
    return undefined;
  }
  let smallest: number | undefined;
  const consider = (root: string, path: string) => {
    for (let p = path; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const q = cgroupQuota(`${root}${p}`);
      if (q !== undefined && (smallest === undefined || q < smallest)) smallest = q;
      if (p === '') return;
    }
  };
  for (const line of lines) {
    // "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1).
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    const at = path === '/' ? '' : path;
    if (controllers === '') consider('/sys/fs/cgroup', at);
    else if (controllers!.split(',').includes('cpu')) consider(`/sys/fs/cgroup/${controllers}`, at);
  }
  return smallest;
}

/** CPUs this process can use: its affinity (taskset, cpusets) and its cgroup's quota (a
 * container's `--cpus`), whichever is smaller. */
export function usableCpus(): number {
  const quota = cpuQuota();
  return Math.max(1, Math.min(availableParallelism(), quota === undefined ? Infinity : Math.ceil(quota)));
}

/** Whether node was started with --single-threaded-gc (on its command line or in NODE_OPTIONS). */
function singleThreadedGc(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((f) => f === '--single-threaded-gc' || f === '--single_threaded_gc');
}

/** `--single-threaded-gc` but `--no-parallel-marking` (see above). */
const NO_HELPER_THREADS = [
  '--no-concurrent-marking',
  '--no-concurrent-sweeping',
  '--no-concurrent-array-buffer-sweeping',
  '--no-parallel-scavenge',
  '--no-parallel-compaction',
  '--no-parallel-pointer-update',
];

/** Whether V8 is one these flags were verified to change on at run time: Node 20's (V8 11.3),
 * 22's (12.4) and 24's (13.6). On each, a 6-million-object churn pinned to one core ran its major
 * collections with at most 4 ticks on other threads (41–67 with the defaults), also under
 * --stress-marking; and `--no-parallel-marking` aborted it on all three. Another V8 may refuse one
 * of them the same way, so there the operator is told what to do instead. */
export const runtimeGcFlagsVerified = /^(11\.3|12\.4|13\.6)\./.test(process.versions.v8);

/** Whether this process turned the helper threads off itself. */
let turnedOff = false;

/** Whether `setting` (--gc-helper-threads) asks for the helper threads off, with `cpus` usable CPUs,
 * node not already started without them. */
function wantedOff(setting: string, cpus: number): boolean {
  return (setting === 'off' || (setting === 'auto' && cpus === 1)) && !singleThreadedGc();
}

/** Turns V8's collector helper threads off when `setting` is `off`, or `auto` with one usable CPU;
 * says whether it did. Only before anything sizeable has been allocated: the first thing
 * `livereview serve` does. */
export function applyGcHelperThreads(setting: string, cpus = usableCpus()): boolean {
  if (!wantedOff(setting, cpus) || !runtimeGcFlagsVerified) return false;
  if (!turnedOff) setFlagsFromString(NO_HELPER_THREADS.join(' '));
  turnedOff = true;
  return true;
}

/** What to tell the operator at start about the collector, if anything. */
export function gcReport(
  setting: string,
  cpus = usableCpus(),
): { level: 'info' | 'warn'; cpus: number; message: string } | undefined {
  if (turnedOff) {
    return {
      level: 'info',
      cpus,
      message:
        `V8 collects garbage without helper threads (--gc-helper-threads ${setting}` +
        (setting === 'auto' ? ', one CPU): they would preempt the event loop' : ')'),
    };
  }
  if (!wantedOff(setting, cpus)) return undefined;
  const why =
    setting === 'off'
      ? '--gc-helper-threads off'
      : 'this process can use one CPU: V8 collects garbage on helper threads that preempt the event loop, ' +
        'for tens of milliseconds at a time';
  // An embedder's startServer() (the collector already runs: too late to change it), or a V8 the
  // change was not verified on.
  const remedy = runtimeGcFlagsVerified
    ? 'run it as `livereview serve`, which turns them off, or start node with --single-threaded-gc'
    : `V8 ${process.versions.v8} is not one their run-time change was verified on: start node with --single-threaded-gc`;
  return { level: 'warn', cpus, message: `${why}; ${remedy} (README, "On one core")` };
}
