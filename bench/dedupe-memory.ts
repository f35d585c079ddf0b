// What the dedupe window keeps per session: the heap retained by a session's DedupeWindow after N
// committed events of 5 clients (ids as the SDK makes them), measured after full collections, for
// this build or another one (an older build's window took its capacity as a number).
//
//   npm run build && node --expose-gc dist/bench/dedupe-memory.js [--events 1200,6000,10000,20000]
//       [--module path/to/dist/src/core/dedupe.js]
//
// Not a test: figures for docs/benchmarks.md ("memory over a long run").
import { pathToFileURL } from 'node:url';
import type { LoggedEvent } from '../src/core/model.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const modulePath = args.get('module') ?? new URL('../src/core/dedupe.js', import.meta.url).pathname;
const counts = (args.get('events') ?? '1200,6000,10000,20000').split(',').map(Number);

interface Window {
  reset(head: number): void;
  remember(event: LoggedEvent): void;
}
const { DedupeWindow } = (await import(pathToFileURL(modulePath).href)) as {
  DedupeWindow: new (arg?: unknown) => Window;
};
// The window before it was bounded per client took one number, its capacity per session.
const make = (): Window => (DedupeWindow.length === 1 ? new DedupeWindow(10_000) : new DedupeWindow());

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heap = () => {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
};

const SESSIONS = 20;
const CLIENTS = 5;
for (const events of counts) {
  const windows: Window[] = [];
  const before = heap();
  for (let s = 0; s < SESSIONS; s++) {
    const w = make();
    w.reset(0);
    const counters = new Array<number>(CLIENTS).fill(0);
    for (let seq = 1; seq <= events; seq++) {
      const p = seq % CLIENTS;
      // Strings built at run time, as decoded from the wire (not shared literals).
      const clientId = ['c', s, '-', p].join('');
      w.remember({
        sessionId: `soak-${s}`,
        seq,
        at: 1_000_000 + seq * 100,
        origin: {
          userId: ['u', s, '-', p].join(''),
          clientId,
          clientMessageId: [clientId, ':', ++counters[p]!].join(''),
        },
        change: { kind: 'edit', path: ['main', '.ts'].join(''), version: seq, op: [seq, 'x'] },
      } as unknown as LoggedEvent);
    }
    windows.push(w);
  }
  const retained = heap() - before;
  console.log(
    JSON.stringify({
      module: modulePath,
      eventsPerSession: events,
      kbPerSession: Math.round(retained / 1024 / windows.length),
      bytesPerEvent: Math.round(retained / windows.length / events),
    }),
  );
}
