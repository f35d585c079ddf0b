// Loaded into every benchmarked server (`node --import`): counts its garbage collections and their
// pauses, and keeps the totals in a file the harness reads before and after each load. Major
// collections are what the typing p99 was made of (docs/benchmarks.md, "2026-12-03, afternoon"),
// so every system's are counted the same way. The file is rewritten every 200 ms (a few bytes).
import { writeFileSync } from 'node:fs';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

export interface GcTotals {
  major: number;
  majorMs: number;
  minor: number;
  minorMs: number;
}

const file = process.env.LIVEREVIEW_BENCH_GC_FILE;
if (file && isMainThread) {
  const totals: GcTotals = { major: 0, majorMs: 0, minor: 0, minorMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        totals.major++;
        totals.majorMs += entry.duration;
      } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        totals.minor++;
        totals.minorMs += entry.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  const save = () => writeFileSync(file, JSON.stringify(totals));
  save();
  setInterval(save, 200).unref();
}
