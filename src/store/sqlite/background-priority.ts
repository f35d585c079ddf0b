// A background thread's priority, below the event loop's.
//
// The WAL checkpointer's thread copies the log's tail into the session log once a second: ~30 ms of
// CPU at once under the typing load (100 sessions x 5 x 5 edits/s). Where the process has one core
// (a container with a one-CPU quota, or the benchmark's pinned server), the kernel shares that core
// between it and the event loop while it runs: every stream waited twice as long for ~60 ms each
// second, which is most of the tail of the latency from a keystroke to a peer (docs/benchmarks.md,
// "2026-12-06, midday"). At a lower priority (a higher nice value) the thread runs when the event
// loop waits, and still gets its share when the loop is busy, so its copy keeps up under overload.
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
