// The typing workload of `livereview bench`, for servers that speak another protocol: N documents x M
// participants, each typing at a set rate on its own phase of the send period, the same edits (a
// character at the start of the text, a line break every 50), the same warm-up, measured window,
// drain and idle settling, and a report of the same shape (LoadReport) so the runner compares the
// figures directly. Each system's own client does the protocol (a PeerDriver); this file does the
// clock and the accounting.
//
// A delivery is one edit reaching one other participant. Clients may merge edits in flight (ShareDB
// composes the ops typed while one is unacknowledged), so a driver reports how many of a sender's
// edits a receipt carried; a sender's edits reach each peer in the order typed, so the n-th edit of
// sender s a receiver hears of is edit n of s, and its latency is from when s typed it.
import { procStat, serverFigures, type LoadReport } from '../../src/loadgen/load-generator.js';

export interface PeerParticipant {
  /** Types `text` at the start of the document, as one local edit. */
  type(text: string): void;
  /** The document's text as this participant sees it. */
  text(): string;
  close(): Promise<void>;
}

export interface PeerCallbacks {
  /** `count` more edits typed by participant `sender` (an index) reached this participant. */
  edits(sender: number, count: number): void;
  /** The server refused an edit. */
  refused(): void;
  /** Anything arrived (joins and presence included): how the idle scenario knows traffic settled. */
  heard(): void;
}

export interface PeerDriver {
  /** Opens participant `index` of document `doc` and resolves once it holds the document; the first
   * participant of a document is opened before the others (it may have to create it). */
  join(doc: string, index: number, on: PeerCallbacks): Promise<PeerParticipant>;
  close(): Promise<void>;
}

export interface PeerLoadOptions {
  sessions: number;
  participants: number;
  /** Edits per second per participant (0: idle participants). */
  rate: number;
  durationMs: number;
  warmupMs: number;
  sessionPrefix: string;
  serverPid?: number;
}

export type PeerLoadReport = LoadReport & {
  /** Documents whose participants ended with different texts after the drain. */
  diverged: number;
};

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runPeerLoad(driver: PeerDriver, o: PeerLoadOptions): Promise<PeerLoadReport> {
  const started = performance.now();
  const server0 = o.serverPid ? procStat(o.serverPid) : undefined;
  let peakRss = server0?.rssMb ?? 0;
  const rssSampler = o.serverPid
    ? setInterval(() => {
        const s = procStat(o.serverPid!);
        if (s) peakRss = Math.max(peakRss, s.rssMb);
      }, 100)
    : undefined;

  const total = o.sessions * o.participants;
  /** sentAt[s][n - 1]: when participant s typed its n-th edit, NaN outside the measured window. */
  const sentAt: number[][] = Array.from({ length: total }, () => []);
  /** heardFrom[r][s % participants]: how many of s's edits have reached r (s in r's document). */
  const heardFrom: Int32Array[] = Array.from({ length: total }, () => new Int32Array(o.participants));
  const latencies: number[] = [];
  let measuring = false;
  let sent = 0;
  let delivered = 0;
  let duplicated = 0;
  let refused = 0;
  let lastMessageAt = 0;

  const callbacks = (receiver: number): PeerCallbacks => ({
    edits: (sender, count) => {
      lastMessageAt = performance.now();
      const times = sentAt[sender]!;
      const seen = heardFrom[receiver]!;
      for (let i = 0; i < count; i++) {
        const n = ++seen[sender % o.participants]!;
        const at = times[n - 1];
        if (at === undefined)
          duplicated++; // more edits than the sender typed
        else if (!Number.isNaN(at)) {
          delivered++;
          latencies.push(lastMessageAt - at);
        }
      }
    },
    refused: () => {
      refused++;
    },
    heard: () => {
      lastMessageAt = performance.now();
    },
  });

  const joinTimeoutMs = 60_000;
  const docs: PeerParticipant[][] = [];
  const joinAll = Promise.all(
    Array.from({ length: o.sessions }, async (_, s) => {
      const doc = `${o.sessionPrefix}-${s}`;
      const first = await driver.join(doc, s * o.participants, callbacks(s * o.participants));
      const rest = await Promise.all(
        Array.from({ length: o.participants - 1 }, (_, i) => {
          const index = s * o.participants + i + 1;
          return driver.join(doc, index, callbacks(index));
        }),
      );
      docs[s] = [first, ...rest];
    }),
  );
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), joinTimeoutMs).unref());
  if ((await Promise.race([joinAll, timeout])) === 'timeout') {
    if (rssSampler) clearInterval(rssSampler);
    throw new Error(`not all ${total} participants joined within ${joinTimeoutMs} ms`);
  }
  const joinMs = performance.now() - started;
  const participants = docs.flat();
  if (o.rate === 0) {
    // As the gRPC generator does: measure idle memory once the joins' traffic has been delivered.
    const settleEnd = performance.now() + 30_000;
    while (performance.now() - lastMessageAt < 1000 && performance.now() < settleEnd) await sleep(100);
  }
  const serverAfterJoin = o.serverPid ? procStat(o.serverPid) : undefined;

  const typeOne = (index: number) => {
    const times = sentAt[index]!;
    const n = times.length + 1;
    times.push(measuring ? performance.now() : NaN);
    if (measuring) sent++;
    participants[index]!.type(n % 50 === 0 ? '\n' : 'x');
  };

  let cpuMeasureStart = process.cpuUsage();
  let serverMeasureStart = server0;
  let measureStart = performance.now();
  if (o.rate > 0) {
    const tickMs = 10;
    const perTick = (o.rate * tickMs) / 1000;
    // Golden-ratio phases, as in the gRPC generator: people do not all type in the same tick.
    const budget = Float64Array.from({ length: total }, (_, i) => (i * 0.6180339887498949) % 1);
    const warmupEnd = performance.now() + o.warmupMs;
    const end = warmupEnd + o.durationMs;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        if (!measuring && now >= warmupEnd) {
          measuring = true;
          measureStart = now;
          cpuMeasureStart = process.cpuUsage();
          serverMeasureStart = o.serverPid ? procStat(o.serverPid) : undefined;
        }
        if (now >= end) {
          clearInterval(timer);
          resolve();
          return;
        }
        for (let i = 0; i < total; i++) {
          budget[i]! += perTick;
          while (budget[i]! >= 1) {
            budget[i]! -= 1;
            typeOne(i);
          }
        }
      }, tickMs);
    });
  } else {
    measureStart = performance.now();
    await sleep(o.durationMs);
  }
  const measuredSeconds = (performance.now() - measureStart) / 1000;
  const serverEnd = o.serverPid ? procStat(o.serverPid) : undefined;
  const cpuMeasured = process.cpuUsage(cpuMeasureStart);

  // Drain: until every edit typed (warm-up included) reached every peer, or nothing moved for 1 s, or 10 s.
  const typed = sentAt.reduce((sum, times) => sum + times.length, 0);
  const heardAll = () => {
    let heard = 0;
    for (const row of heardFrom) for (const n of row) heard += n;
    return heard;
  };
  const expectedAll = typed * (o.participants - 1);
  for (let last = -1, stable = 0, waited = 0; waited < 10_000; waited += 100) {
    const heard = heardAll();
    if (heard >= expectedAll) break;
    stable = heard === last ? stable + 100 : 0;
    last = heard;
    if (stable >= 1000) break;
    await sleep(100);
  }
  if (rssSampler) clearInterval(rssSampler);
  const diverged = docs.filter((ps) => ps.some((p) => p.text() !== ps[0]!.text())).length;
  await Promise.all(participants.map((p) => p.close()));
  await driver.close();

  const expected = sent * (o.participants - 1);
  const sorted = Float64Array.from(latencies).sort();
  const genCpu = (cpuMeasured.user + cpuMeasured.system) / 1e6;
  const report: PeerLoadReport = {
    date: new Date().toISOString(),
    options: {
      targets: [],
      sessions: o.sessions,
      participants: o.participants,
      rate: o.rate,
      durationMs: o.durationMs,
      warmupMs: o.warmupMs,
      mix: { edits: 1, comments: 0, cursors: 0 },
      sharedChannel: false,
      sessionPrefix: o.sessionPrefix,
      serverPids: o.serverPid ? [o.serverPid] : [],
    },
    joinMs: Math.round(joinMs),
    measuredSeconds,
    sent,
    expectedDeliveries: expected,
    delivered,
    lost: Math.max(0, expected - delivered),
    duplicated,
    diverged,
    deliveredPerSecond: Math.round(delivered / measuredSeconds),
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      p999: percentile(sorted, 0.999),
      max: sorted.length ? sorted[sorted.length - 1]! : 0,
    },
    refused,
    streamsEnded: 0,
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
