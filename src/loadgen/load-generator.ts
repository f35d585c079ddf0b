// The load generator behind `livereview bench`: sessions x participants, each a real session
// stream, sending edits (and optionally comments and cursors) at a set rate; every delivery is
// matched to its send, so the report says what was sent, delivered, lost and duplicated, and the
// latency from send to each peer's receipt. It runs in its own process and reports its own CPU,
// so a generator that is itself the bottleneck says so.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { CodeReviewServiceClient, SessionMessage } from '../gen/codereview/v1/codereview.js';

export interface LoadOptions {
  targets: string[];
  sessions: number;
  participants: number;
  /** Messages per second per participant (0: idle participants). */
  rate: number;
  durationMs: number;
  warmupMs: number;
  /** Relative weights of the message kinds sent. */
  mix: { edits: number; comments: number; cursors: number };
  /** All participants share one channel per target (else one connection each). */
  sharedChannel: boolean;
  sessionPrefix: string;
  token?: string;
  /** A local server process to measure (CPU seconds, peak memory). */
  /** Local server processes (several: a cluster's instances): their CPU and peak memory, summed. */
  serverPids?: number[];
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  elapsedMs: number;
  phase: 'joining' | 'settling' | 'warm-up' | 'measuring' | 'draining';
  joined: number;
  sent: number;
  delivered: number;
}

export interface LoadReport {
  date: string;
  options: Omit<LoadOptions, 'onProgress' | 'token'>;
  joinMs: number;
  measuredSeconds: number;
  sent: number;
  expectedDeliveries: number;
  delivered: number;
  lost: number;
  /** Of the lost, edits the server acknowledged: what it promised and some peer never received.
   * The rest were refused, or never reached the server (still queued in this client). Only the
   * gRPC generator knows it. */
  lostAcknowledged?: number;
  duplicated: number;
  deliveredPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  /** Each measured second (by when the edit was sent): deliveries and their latency. A backlog
   * that builds up shows here as a p99 that climbs, where the whole run's p99 is one number. */
  perSecond?: { second: number; delivered: number; p50: number; p99: number }[];
  refused: number;
  streamsEnded: number;
  server?: {
    cpuSeconds: number;
    /** Of cpuSeconds, the main thread's; the rest went to the server's other threads (a store's
     * worker and flushes on libuv's pool, V8's garbage-collection and compiler helpers). */
    mainThreadCpuSeconds: number;
    cpuPercentOfCore: number;
    peakRssMb: number;
    rssBeforeMb: number;
    rssAfterJoinMb: number;
    deliveriesPerCpuSecond: number;
  };
  generator: { cpuSeconds: number; cpuPercentOfCore: number; bottleneck: boolean };
}

interface Participant {
  index: number;
  session: number;
  call: grpc.ClientDuplexStream<SessionMessage, SessionMessage>;
  version: number;
  sentCount: number;
  budget: number;
  ended: boolean;
}

const CLK_TCK = 100;

/** Several processes (a cluster's instances) as one: CPU and RSS summed. */
export function procStats(pids: readonly number[]): ProcStat | undefined {
  if (pids.length === 0) return undefined;
  const sum: ProcStat = { cpuSeconds: 0, mainThreadCpuSeconds: 0, rssMb: 0 };
  for (const pid of pids) {
    const s = procStat(pid);
    if (!s) return undefined;
    sum.cpuSeconds += s.cpuSeconds;
    sum.mainThreadCpuSeconds += s.mainThreadCpuSeconds;
    sum.rssMb += s.rssMb;
  }
  return sum;
}

/** User + system CPU seconds from a /proc stat file: a process's (every thread), or one thread's. */
function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export interface ProcStat {
  /** User + system, every thread. */
  cpuSeconds: number;
  /** The main thread's (the task with the process's own id): a Node server's event loop. */
  mainThreadCpuSeconds: number;
  rssMb: number;
}

/** A local process's CPU seconds so far and resident memory, from /proc. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    const cpuSeconds = statCpuSeconds(`/proc/${pid}/stat`);
    const mainThreadCpuSeconds = statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds, mainThreadCpuSeconds, rssMb: rssKb / 1024 };
  } catch {
    return undefined;
  }
}

/** What a run reports of the server, from /proc read before the joins, after them, and at the
 * start and end of the measured window (undefined without the last two). */
export function serverFigures(
  at: { before?: ProcStat; afterJoin?: ProcStat; measureStart?: ProcStat; end?: ProcStat },
  measuredSeconds: number,
  delivered: number,
  peakRssMb: number,
): LoadReport['server'] {
  const { measureStart, end } = at;
  if (!measureStart || !end) return undefined;
  const cpu = end.cpuSeconds - measureStart.cpuSeconds;
  return {
    cpuSeconds: cpu,
    mainThreadCpuSeconds: end.mainThreadCpuSeconds - measureStart.mainThreadCpuSeconds,
    cpuPercentOfCore: (cpu / measuredSeconds) * 100,
    peakRssMb,
    rssBeforeMb: at.before?.rssMb ?? 0,
    rssAfterJoinMb: at.afterJoin?.rssMb ?? 0,
    deliveriesPerCpuSecond: cpu > 0 ? Math.round(delivered / cpu) : 0,
  };
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const started = performance.now();

  const channelOptions: grpc.ChannelOptions = o.sharedChannel ? {} : { 'grpc.use_local_subchannel_pool': 1 };
  const shared = o.targets.map(
    (t) => new CodeReviewServiceClient(t, grpc.credentials.createInsecure(), channelOptions),
  );
  const clients: CodeReviewServiceClient[] = [...shared];
  const metadata = new grpc.Metadata();
  if (o.token) metadata.set('authorization', `Bearer ${o.token}`);
  const pids = o.serverPids ?? [];
  const server0 = procStats(pids);
  let peakRss = server0?.rssMb ?? 0;
  const rssSampler = pids.length
    ? setInterval(() => {
        const s = procStats(pids);
        if (s) peakRss = Math.max(peakRss, s.rssMb);
      }, 100)
    : undefined;

  let phase: Progress['phase'] = 'joining';
  let measuring = false;
  const sentAt = new Map<string, number>(); // key -> send time (measured window only)
  const acknowledged = new Set<string>(); // keys of measured edits the server acknowledged
  const deliveries = new Map<string, number>(); // key -> deliveries seen
  const latencies: number[] = [];
  /** latencySentAt[i]: when the edit of latencies[i] was sent (for the per-second figures). */
  const latencySentAt: number[] = [];
  let sent = 0;
  let delivered = 0;
  let duplicated = 0;
  let refused = 0;
  let streamsEnded = 0;
  let joined = 0;
  let lastMessageAt = 0;
  const participants: Participant[] = [];
  const weights = o.mix.edits + o.mix.comments + o.mix.cursors;

  const joinedAll = new Promise<void>((resolveAll) => {
    const total = o.sessions * o.participants;
    for (let s = 0; s < o.sessions; s++) {
      for (let i = 0; i < o.participants; i++) {
        const index = s * o.participants + i;
        const target = index % o.targets.length;
        let client = shared[target]!;
        if (!o.sharedChannel) {
          client = new CodeReviewServiceClient(
            o.targets[target]!,
            grpc.credentials.createInsecure(),
            channelOptions,
          );
          clients.push(client);
        }
        const call = client.collaborativeSession(metadata);
        // Each participant starts at its own phase of the send period (golden-ratio spread), as people
        // do: with equal budgets every participant would send in the same tick, and the bursts (500
        // edits at once every 200 ms at 5/s) would measure queueing in the generator, not the server.
        const sendPhase = (index * 0.6180339887498949) % 1;
        const p: Participant = {
          index,
          session: s,
          call,
          version: 0,
          sentCount: 0,
          budget: sendPhase,
          ended: false,
        };
        participants.push(p);
        let ready = false;
        call.on('data', (m: SessionMessage) => {
          lastMessageAt = performance.now();
          const payload = m.payload;
          if (!ready && (payload?.$case === 'welcome' || payload?.$case === 'snapshot')) {
            if (payload.$case === 'snapshot') {
              const f = payload.value.files.find((x) => x.path === 'bench.txt');
              if (f) p.version = Math.max(p.version, f.version);
            }
            // Ready after the last snapshot chunk (LiveReview) or after a welcome with no snapshot to follow
            // (a resume, or the bare floor server, which sends no snapshot).
            if (payload.$case === 'welcome' && payload.value.sync !== 1) ready = true;
            if (payload.$case === 'snapshot' && payload.value.index + 1 === payload.value.count) ready = true;
            if (ready && ++joined === total) resolveAll();
            return;
          }
          switch (payload?.$case) {
            case 'ack':
              if (payload.value.version > p.version && payload.value.filePath === 'bench.txt')
                p.version = payload.value.version;
              if (sentAt.has(payload.value.clientMessageId)) acknowledged.add(payload.value.clientMessageId);
              return;
            case 'error':
              refused++;
              return;
            case 'edit':
              if (payload.value.version > p.version) p.version = payload.value.version;
              break;
            case 'comment':
            case 'cursor':
              break;
            default:
              return;
          }
          const key = m.clientMessageId;
          const at = sentAt.get(key);
          if (at === undefined) return; // outside the measured window, or a cursor
          const seen = (deliveries.get(key) ?? 0) + 1;
          deliveries.set(key, seen);
          if (seen > o.participants - 1) duplicated++;
          else {
            delivered++;
            latencies.push(performance.now() - at);
            latencySentAt.push(at);
          }
        });
        call.on('error', () => {
          p.ended = true;
          streamsEnded++;
        });
        call.write(
          SessionMessage.fromPartial({
            sessionId: `${o.sessionPrefix}-${s}`,
            userId: `u${index}`,
            payload: {
              $case: 'join',
              value: { clientId: `c${index}`, capabilities: ['ops', 'ops_only', 'roster_updates'] },
            },
          }),
        );
      }
    }
  });

  const progress = setInterval(
    () => o.onProgress?.({ elapsedMs: performance.now() - started, phase, joined, sent, delivered }),
    200,
  );
  const joinTimeoutMs = 60_000;
  const joinTimeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), joinTimeoutMs).unref());
  if ((await Promise.race([joinedAll, joinTimeout])) === 'timeout') {
    clearInterval(progress);
    if (rssSampler) clearInterval(rssSampler);
    for (const c of clients) c.close();
    throw new Error(
      `only ${joined} of ${o.sessions * o.participants} participants joined within ${joinTimeoutMs} ms ` +
        '(with --shared-channel every stream shares one HTTP/2 connection: is the server limiting concurrent streams?)',
    );
  }
  const joinMs = performance.now() - started;
  if (o.rate === 0) {
    // Idle participants: measure the server once the joins' presence traffic (every join is
    // announced to everyone already there) has been delivered, so the figure is the steady state
    // of idle participants, not of queues still draining.
    phase = 'settling';
    const settleEnd = performance.now() + 30_000;
    while (performance.now() - lastMessageAt < 1000 && performance.now() < settleEnd) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const serverAfterJoin = procStats(pids);

  const send = (p: Participant, measured: boolean) => {
    if (p.ended) return;
    const n = ++p.sentCount;
    const key = `c${p.index}:${n}`;
    const r = ((n * 2654435761) >>> 0) % weights;
    let message: SessionMessage;
    if (r < o.mix.edits) {
      message = SessionMessage.fromPartial({
        clientMessageId: key,
        payload: {
          $case: 'edit',
          value: {
            filePath: 'bench.txt',
            version: p.version,
            // Typing at the start of the file with a line break every 50 characters, so lines stay
            // as long as code lines (every event carries its line's text for seed clients).
            operations: [{ kind: { $case: 'insert', value: n % 50 === 0 ? '\n' : 'x' } }],
          },
        },
      });
    } else if (r < o.mix.edits + o.mix.comments) {
      message = SessionMessage.fromPartial({
        clientMessageId: key,
        payload: {
          $case: 'comment',
          value: { filePath: 'bench.txt', lineNumber: 1, text: 'benchmark comment' },
        },
      });
    } else {
      message = SessionMessage.fromPartial({
        payload: { $case: 'cursor', value: { filePath: 'bench.txt', line: 1, column: 1 } },
      });
      p.call.write(message);
      return; // cursors are coalesced by design: not counted as deliveries
    }
    if (measured) {
      sentAt.set(key, performance.now());
      sent++;
    }
    p.call.write(message);
  };

  // Create the file every session edits (one participant per session).
  for (let s = 0; s < o.sessions; s++) {
    participants[s * o.participants]!.call.write(
      SessionMessage.fromPartial({
        clientMessageId: `init-${s}`,
        payload: {
          $case: 'edit',
          value: {
            filePath: 'bench.txt',
            version: 0,
            operations: [{ kind: { $case: 'insert', value: '\n' } }],
          },
        },
      }),
    );
  }

  let cpuMeasureStart = process.cpuUsage();
  let serverMeasureStart = server0;
  let measureStart = performance.now();
  if (o.rate > 0) {
    const tickMs = 10;
    const perTick = (o.rate * tickMs) / 1000;
    phase = 'warm-up';
    const warmupEnd = performance.now() + o.warmupMs;
    const end = warmupEnd + o.durationMs;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        if (!measuring && now >= warmupEnd) {
          measuring = true;
          phase = 'measuring';
          measureStart = now;
          cpuMeasureStart = process.cpuUsage();
          serverMeasureStart = procStats(pids);
        }
        if (now >= end) {
          clearInterval(timer);
          resolve();
          return;
        }
        for (const p of participants) {
          p.budget += perTick;
          while (p.budget >= 1) {
            p.budget -= 1;
            send(p, measuring);
          }
        }
      }, tickMs);
    });
  } else {
    phase = 'measuring';
    measureStart = performance.now();
    await new Promise((r) => setTimeout(r, o.durationMs));
  }
  const measuredSeconds = (performance.now() - measureStart) / 1000;
  const serverEnd = procStats(pids);
  const cpuMeasured = process.cpuUsage(cpuMeasureStart);

  // Drain: wait until deliveries stop (or 10 s).
  phase = 'draining';
  const expected = sent * (o.participants - 1);
  for (let last = -1, stable = 0, waited = 0; delivered < expected && waited < 10_000; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    stable = delivered === last ? stable + 100 : 0;
    last = delivered;
    if (stable >= 1000) break;
  }
  clearInterval(progress);
  if (rssSampler) clearInterval(rssSampler);
  for (const p of participants) p.call.end();
  await new Promise((r) => setTimeout(r, 200));
  for (const c of clients) c.close();

  const sorted = Float64Array.from(latencies).sort();
  const genCpu = (cpuMeasured.user + cpuMeasured.system) / 1e6;
  const report: LoadReport = {
    date: new Date().toISOString(),
    options: { ...o, onProgress: undefined, token: undefined } as LoadReport['options'],
    joinMs: Math.round(joinMs),
    measuredSeconds,
    sent,
    expectedDeliveries: expected,
    delivered,
    lost: Math.max(0, expected - delivered),
    lostAcknowledged: [...acknowledged].filter((key) => (deliveries.get(key) ?? 0) < o.participants - 1)
      .length,
    duplicated,
    deliveredPerSecond: Math.round(delivered / measuredSeconds),
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      p999: percentile(sorted, 0.999),
      max: sorted.length ? sorted[sorted.length - 1]! : 0,
    },
    perSecond: perSecond(latencies, latencySentAt, measureStart, measuredSeconds),
    refused,
    streamsEnded,
    generator: {
      cpuSeconds: genCpu,
      cpuPercentOfCore: (genCpu / measuredSeconds) * 100,
      bottleneck: genCpu / measuredSeconds > 0.9,
    },
  };

  report.server = serverFigures(
    { before: server0, afterJoin: serverAfterJoin, measureStart: serverMeasureStart, end: serverEnd },
    measuredSeconds,
    delivered,
    peakRss,
  );
  return report;
}

/** Latencies grouped by the second (of the measured window) their edit was sent in. */
function perSecond(
  latencies: readonly number[],
  sentAt: readonly number[],
  start: number,
  seconds: number,
): NonNullable<LoadReport['perSecond']> {
  // The window's last fraction of a second joins the second before it.
  const buckets: number[][] = Array.from({ length: Math.max(1, Math.round(seconds)) }, () => []);
  latencies.forEach((latency, i) => {
    const second = Math.min(buckets.length - 1, Math.max(0, Math.floor((sentAt[i]! - start) / 1000)));
    buckets[second]!.push(latency);
  });
  return buckets.map((b, second) => {
    const sorted = Float64Array.from(b).sort();
    return { second, delivered: b.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  });
}

export function formatReport(r: LoadReport): string {
  const f = (n: number, d = 1) => n.toFixed(d);
  const lines = [
    `LiveReview load: ${r.options.sessions} session(s) x ${r.options.participants} participants, ${r.options.rate}/s each, ${f(r.measuredSeconds)} s measured, ${r.options.sharedChannel ? 'shared channel' : 'one connection per participant'}`,
    `joined all in ${r.joinMs} ms`,
    `sent ${r.sent}   delivered ${r.delivered}/${r.expectedDeliveries}   lost ${r.lost} (acknowledged ${r.lostAcknowledged})   duplicated ${r.duplicated}   refused ${r.refused}   streams ended ${r.streamsEnded}`,
    `delivered/s ${r.deliveredPerSecond}`,
    `latency ms  p50 ${f(r.latencyMs.p50, 2)}  p90 ${f(r.latencyMs.p90, 2)}  p99 ${f(r.latencyMs.p99, 2)}  p99.9 ${f(r.latencyMs.p999, 2)}  max ${f(r.latencyMs.max, 2)}`,
  ];
  if (r.perSecond?.length) {
    lines.push(`p99 ms by second sent: ${r.perSecond.map((s) => f(s.p99, 1)).join(' ')}`);
  }
  if (r.server) {
    lines.push(
      `server: ${f(r.server.cpuPercentOfCore)} % of a core (main thread ${f((r.server.mainThreadCpuSeconds / r.measuredSeconds) * 100)} %), ${r.server.deliveriesPerCpuSecond} deliveries per CPU second, RSS ${f(r.server.rssBeforeMb)} MB -> ${f(r.server.rssAfterJoinMb)} MB after joins, peak ${f(r.server.peakRssMb)} MB`,
    );
  }
  lines.push(
    `generator: ${f(r.generator.cpuPercentOfCore)} % of a core${r.generator.bottleneck ? ' — THE GENERATOR IS THE BOTTLENECK: figures understate the server' : ''}`,
  );
  return lines.join('\n');
}
