// Committed edits per second through the engine's pipeline (validate, transform, apply, commit), for
// one hot session and for 100 sessions, with group commit (batches per session and one transaction
// for appends that arrive together) and without (one transaction per event), on the SQLite store
// (synchronous=FULL by default) or on PostgreSQL (a fresh database per scenario on the server of
// POSTGRES_URL, dropped afterwards; also its backends' CPU and the round trip a commit costs).
// Run: npm run bench:store   (DURATION_MS=3000 by default per scenario)
//      STORE=postgres npm run bench:store   (POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres)
import { DEFAULT_CONTENT_LIMITS } from '../src/core/content-limits.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { systemClock } from '../src/core/clock.js';
import { Engine } from '../src/core/engine.js';
import { LiveReviewError } from '../src/core/errors.js';
import type { Store } from '../src/core/store.js';
import { procStat } from '../src/loadgen/load-generator.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const DURATION_MS = Number(process.env.DURATION_MS ?? 3000);
const STORE = (process.env.STORE ?? 'sqlite') as 'sqlite' | 'postgres';
const SYNCHRONOUS = (process.env.SYNCHRONOUS ?? 'full') as 'full' | 'normal';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const COMMITS_IN_FLIGHT = process.env.COMMITS_IN_FLIGHT ? Number(process.env.COMMITS_IN_FLIGHT) : undefined;

interface BenchStore {
  store: Store;
  /** CPU seconds the database server spent for this store so far (PostgreSQL backends). */
  serverCpuSeconds(): Promise<number | undefined>;
  dispose(): Promise<void>;
}

let databases = 0;

async function onMaintenance<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function openPostgres(groupCommit: boolean): Promise<BenchStore> {
  const name = `lr_bench_${process.pid}_${++databases}`;
  await onMaintenance((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const store = await PostgresStore.open(url.toString(), { groupCommit, commitsInFlight: COMMITS_IN_FLIGHT });
  // The backends serving this database are on this machine (loopback): read their CPU from /proc.
  const backendPids = async () =>
    onMaintenance(async (c) => {
      const { rows } = await c.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      return rows.map((r) => r.pid);
    });
  return {
    store,
    async serverCpuSeconds() {
      let total = 0;
      for (const pid of await backendPids()) total += procStat(pid)?.cpuSeconds ?? 0;
      return total;
    },
    async dispose() {
      await store.close();
      await onMaintenance((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function openSqlite(groupCommit: boolean): Promise<BenchStore> {
  const dir = mkdtempSync(join(tmpdir(), 'lr-bench-store-'));
  const store = new SqliteStore(dir, { groupCommit, synchronous: SYNCHRONOUS });
  return {
    store,
    serverCpuSeconds: async () => undefined,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const open = STORE === 'postgres' ? openPostgres : openSqlite;

function newEngine(store: Store, groupCommit: boolean): Engine {
  return new Engine({
    store,
    clock: systemClock,
    config: {
      limits: DEFAULT_CONTENT_LIMITS,
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
}

const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function scenario(sessions: number, writersPerSession: number, groupCommit: boolean) {
  const bench = await open(groupCommit);
  const engine = newEngine(bench.store, groupCommit);
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
  const commitsBefore = bench.store instanceof PostgresStore ? { ...bench.store.commitStats } : undefined;
  const serverBefore = await bench.serverCpuSeconds();
  const started = Date.now();
  const cpuBefore = process.cpuUsage();
  const jobs: Promise<void>[] = [];
  for (let s = 0; s < sessions; s++) for (let w = 0; w < writersPerSession; w++) jobs.push(writer(s, w));
  await Promise.all(jobs);
  const seconds = (Date.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore); // every thread: the engine's and the store's writer
  const serverAfter = await bench.serverCpuSeconds();
  const commitsAfter = bench.store instanceof PostgresStore ? bench.store.commitStats : undefined;
  await engine.close(new LiveReviewError('SERVER_SHUTTING_DOWN', 'bench over'));
  await bench.dispose();
  latencies.sort((a, b) => a - b);
  const statements = commitsAfter && commitsBefore ? commitsAfter.groups - commitsBefore.groups : undefined;
  return {
    perSecond: Math.round(committed / seconds),
    cpuPerEventUs: ((cpu.user + cpu.system) / committed).toFixed(1),
    serverCpuPerEventUs:
      serverBefore !== undefined && serverAfter !== undefined
        ? (((serverAfter - serverBefore) * 1e6) / committed).toFixed(1)
        : undefined,
    eventsPerStatement: statements ? (committed / statements).toFixed(1) : undefined,
    p50: percentile(latencies, 0.5).toFixed(2),
    p99: percentile(latencies, 0.99).toFixed(2),
  };
}

/** What one commit costs when nothing else is going on: the bare round trip, one append through
 * the store, and one edit through the whole engine, each waited for before the next. */
async function roundTrips(): Promise<void> {
  const bench = await open(true);
  const store = bench.store as PostgresStore;
  const runs = 500;
  const time = async (what: (i: number) => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await what(i);
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    return `${(percentile(samples, 0.5) * 1000).toFixed(0)} / ${(percentile(samples, 0.99) * 1000).toFixed(0)}`;
  };
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  const ping = await time(() => client.query('SELECT 1'));
  await client.end();
  const origin = (i: number) => ({ userId: 'u', clientId: 'c', clientMessageId: `m${i}` });
  const append = await time((i) =>
    store.append('lone', i, [
      {
        sessionId: 'lone',
        seq: i + 1,
        at: Date.now(),
        origin: origin(i),
        change: { kind: 'edit', path: 'f', version: i + 1, op: [i, 'x'], line: 1, lineText: 'x' },
      },
    ]),
  );
  const heads = await time(() => store.heads(['lone']));
  const engine = newEngine(store, true);
  await engine.openReview('edits', origin(-1), [{ path: 'f', text: '' }], 'author');
  const edit = await time((i) =>
    engine.submitUnary(
      'edits',
      origin(i),
      { kind: 'edit', path: 'f', baseVersion: i, op: [i, 'x'] },
      'author',
    ),
  );
  await engine.close(new LiveReviewError('SERVER_SHUTTING_DOWN', 'bench over'));
  await bench.dispose();
  console.log(`\nOne at a time (${runs} each), µs p50 / p99:\n`);
  console.log('| `SELECT 1` round trip | heads() | append() of one event | one edit through the engine |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| ${ping} | ${heads} | ${append} | ${edit} |`);
}

const target =
  STORE === 'postgres'
    ? `PostgreSQL at ${new URL(POSTGRES_URL).host}${COMMITS_IN_FLIGHT ? `, ${COMMITS_IN_FLIGHT} commits in flight` : ''}`
    : `SQLite synchronous=${SYNCHRONOUS}`;
console.log(
  `# store benchmark, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model}, ${target}, ${DURATION_MS} ms per scenario`,
);
const serverColumns = STORE === 'postgres' ? ' PostgreSQL CPU µs per event | events per statement |' : '';
console.log(
  `| scenario | group commit | committed events/s | CPU µs per event (all threads) |${serverColumns} ack p50 ms | ack p99 ms |`,
);
console.log(`| --- | --- | --- | --- |${STORE === 'postgres' ? ' --- | --- |' : ''} --- | --- |`);
for (const [label, sessions, writers] of [
  ['1 hot session x 20 writers', 1, 20],
  ['100 sessions x 1 writer', 100, 1],
] as const) {
  for (const gc of [false, true]) {
    const r = await scenario(sessions, writers, gc);
    const server = STORE === 'postgres' ? ` ${r.serverCpuPerEventUs} | ${r.eventsPerStatement} |` : '';
    console.log(
      `| ${label} | ${gc ? 'on' : 'off'} | ${r.perSecond} | ${r.cpuPerEventUs} |${server} ${r.p50} | ${r.p99} |`,
    );
  }
}
if (STORE === 'postgres') await roundTrips();
