// Committed edits per second through the engine's pipeline (validate, transform, apply, commit) on the SQLite store (synchronous=FULL),
// for one hot session and for 100 sessions, with group commit (batches per session and one
// transaction for appends that arrive together) and without (one transaction, one fsync per event).
// Run: npm run bench:store   (DURATION_MS=3000 by default per scenario)
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/core/clock.js';
import { Engine } from '../src/core/engine.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const DURATION_MS = Number(process.env.DURATION_MS ?? 3000);
const SYNCHRONOUS = (process.env.SYNCHRONOUS ?? 'full') as 'full' | 'normal';

async function scenario(sessions: number, writersPerSession: number, groupCommit: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'lr-bench-store-'));
  const store = new SqliteStore(dir, { groupCommit, synchronous: SYNCHRONOUS });
  const engine = new Engine({
    store,
    clock: systemClock,
    config: {
      historyVersions: 1000,
      snapshotEvery: 500,
      idleAfterMs: 60_000,
      maxParticipantsPerSession: 100,
      snapshotChunkChars: 65536,
      catchUpBatch: 256,
      maxBatch: groupCommit ? 256 : 1,
      commitRetries: 5,
      dedupeWindow: 10_000,
      presenceBatchMs: 250,
      evictAfterMs: 60_000,
    },
  });
  for (let s = 0; s < sessions; s++) {
    const origin = { userId: 'u', clientId: 'u', clientMessageId: '' };
    await engine.openReview(`s${s}`, origin, [{ path: 'f', text: '' }], 'author');
  }
  let committed = 0;
  const latencies: number[] = [];
  const end = Date.now() + DURATION_MS;
  const writer = async (session: number, w: number) => {
    let n = 0;
    let base = 0;
    while (Date.now() < end) {
      const started = performance.now();
      // A typed character, based on the last version this writer saw (stale by whatever the other
      // writers committed meanwhile: the server transforms it).
      const ack = await engine.submitUnary(
        `s${session}`,
        { userId: `u${w}`, clientId: `c${w}`, clientMessageId: `m${n++}` },
        { kind: 'edit', path: 'f', baseVersion: base, op: ['x'] },
        'author',
      );
      base = ack.version;
      latencies.push(performance.now() - started);
      committed++;
    }
  };
  const started = Date.now();
  const cpuBefore = process.cpuUsage();
  const jobs: Promise<void>[] = [];
  for (let s = 0; s < sessions; s++) for (let w = 0; w < writersPerSession; w++) jobs.push(writer(s, w));
  await Promise.all(jobs);
  const seconds = (Date.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore); // every thread: the engine's and the store's writer
  await engine.close(
    new (await import('../src/core/errors.js')).LiveReviewError('SERVER_SHUTTING_DOWN', 'bench over'),
  );
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const p = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2);
  return {
    perSecond: Math.round(committed / seconds),
    cpuPerEventUs: ((cpu.user + cpu.system) / committed).toFixed(1),
    p50: p(0.5),
    p99: p(0.99),
  };
}

console.log(
  `# store benchmark, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model}, synchronous=${SYNCHRONOUS}, ${DURATION_MS} ms per scenario`,
);
console.log(
  '| scenario | group commit | committed events/s | CPU µs per event (all threads) | ack p50 ms | ack p99 ms |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [label, sessions, writers] of [
  ['1 hot session x 20 writers', 1, 20],
  ['100 sessions x 1 writer', 100, 1],
] as const) {
  for (const gc of [false, true]) {
    const r = await scenario(sessions, writers, gc);
    console.log(
      `| ${label} | ${gc ? 'on' : 'off'} | ${r.perSecond} | ${r.cpuPerEventUs} | ${r.p50} | ${r.p99} |`,
    );
  }
}
