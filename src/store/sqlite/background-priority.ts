// A background thread's priority, below the event loop's.
//
// The WAL checkpointer's thread copies the log's tail into the session log once a second: 25–32 ms
// of CPU in a burst of 50–80 ms under the typing load (100 sessions x 5 x 5 edits/s; perf, on the
// server pinned to one core). Where the process has one core (a container with a one-CPU quota, or
// the benchmark's pinned server) the kernel shared that core evenly between it and the event loop
// while it ran, and the streams' messages waited. At a lower priority (a higher nice value) the
// thread takes the core when the event loop waits, and still gets a share when the loop is busy, so
// its copy keeps up under overload. Typing p99 0.79x, the event loop's time waiting for a core
// 0.69x (docs/benchmarks.md, "2026-12-06, midday").
//
// Linux keeps a nice value per thread, and setpriority(PRIO_PROCESS, tid) sets one thread's
// (`os.setPriority` passes the id through). Elsewhere the thread keeps the process's priority.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The nice value the checkpointer's thread runs at: CFS then gives it ~1/10 of a core the event
 * loop also wants (weights 110 against 1024), the rest of the time whatever it needs. */
export const BACKGROUND_NICE = 10;

/** The calling thread's id (Linux: /proc/thread-self links to "<pid>/task/<tid>"). */
function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** Lowers the calling thread's priority to `nice` (never raises it). Returns the nice value set, or
 * undefined where the platform has no per-thread priority or refused it. */
export function lowerThreadPriority(nice = BACKGROUND_NICE): number | undefined {
  if (process.platform !== 'linux') return undefined;
  const tid = threadId();
  if (tid === undefined) return undefined;
  try {
    const current = getPriority(tid);
    if (current >= nice) return current;
    setPriority(tid, nice);
    return nice;
  } catch {
    return undefined;
  }
}
