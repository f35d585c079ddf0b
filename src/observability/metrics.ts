// Prometheus metrics (prom-client), one registry per server so several can run in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HotHistogram } from './hot-histogram.js';

export class Metrics {
  readonly registry = new Registry();
  readonly activeStreams = new Gauge({
    name: 'livereview_active_streams',
    help: 'Open session streams (CollaborativeSession and Subscribe)',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: 'livereview_sessions',
    help: 'Sessions held in memory',
    registers: [this.registry],
  });
  readonly participants = new Gauge({
    name: 'livereview_participants',
    help: 'Joined participants across all sessions',
    registers: [this.registry],
  });
  // Counted per message (per recipient, for messages sent) in plain numbers and handed to
  // prom-client when scraped: its inc() hashes the labels on every call (see hot-histogram.ts).
  private readonly receivedByKind = new Map<string, number>();
  private readonly sentByKind = new Map<string, number>();
  readonly messagesIn: Counter<'kind'> = new Counter({
    name: 'livereview_messages_received_total',
    help: 'Client messages received, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: (): void => moveCounts(this.receivedByKind, this.messagesIn),
  });
  readonly messagesOut: Counter<'kind'> = new Counter({
    name: 'livereview_messages_sent_total',
    help: 'Messages written to participants, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: (): void => moveCounts(this.sentByKind, this.messagesOut),
  });
  readonly errors = new Counter({
    name: 'livereview_errors_total',
    help: 'Errors returned (call statuses and in-stream errors), by gRPC code and reason',
    labelNames: ['code', 'reason'] as const,
    registers: [this.registry],
  });
  readonly streamDuration = new Histogram({
    name: 'livereview_stream_duration_seconds',
    help: 'Lifetime of session streams',
    labelNames: ['method'] as const,
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 7200, 14400],
    registers: [this.registry],
  });
  /** Messages in outbound queues: a plain number on the per-delivery path, read at scrape time
   * (a gauge update per queued and per written message cost more than the queue itself). */
  outboundQueued = 0;
  readonly outboundQueueDepth: Gauge = new Gauge({
    name: 'livereview_outbound_queue_depth',
    help: 'Messages waiting in participants outbound queues (all participants)',
    registers: [this.registry],
    collect: (): void => this.outboundQueueDepth.set(this.outboundQueued),
  });
  readonly slowConsumers = new Counter({
    name: 'livereview_slow_consumers_cut_off_total',
    help: 'Participants cut off because their outbound queue reached its bound',
    registers: [this.registry],
  });
  readonly congestionPauses = new Counter({
    name: 'livereview_congestion_pauses_total',
    help: 'Times a stream stopped being read because its participant was not keeping up with what it was sent',
    registers: [this.registry],
  });
  readonly withheld = new Counter({
    name: 'livereview_withheld_messages_total',
    help: 'Messages not sent to a participant whose vocabulary has no form for them (acks and errors to seed clients), by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly commits = new Counter({
    name: 'livereview_committed_events_total',
    help: 'Durable events committed to the log',
    registers: [this.registry],
  });
  readonly commitConflicts = new Counter({
    name: 'livereview_commit_conflicts_total',
    help: 'Batches another instance committed before, in cluster mode: taken back, the log read, prepared again',
    registers: [this.registry],
  });
  readonly forwardedCommands = new Counter({
    name: 'livereview_forwarded_commands_total',
    help: 'Edits and comments sent to the instance that commits their session, in cluster mode',
    registers: [this.registry],
  });
  /** Observed once per session's batch: under the typing load, once per edit. */
  readonly commitDuration = new HotHistogram(
    'livereview_commit_duration_seconds',
    'Time to make a batch of events durable',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    this.registry,
  );
  /** The embedded store's disk (SQLite at synchronous=full): see SqliteStoreObserver. */
  readonly walFlushDuration = new Histogram({
    name: 'livereview_store_wal_flush_seconds',
    help: 'Time the embedded store took to flush its write-ahead log to stable storage (fdatasync); appends wait for it',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /** Never above 0 unless something is wrong: see SqliteStoreObserver. */
  readonly storeAnomalies = new Counter({
    name: 'livereview_store_anomalies_total',
    help: "The embedded store's anomalies: tail copies into the session log that failed (retried), events kept without a client message id another event already carried",
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly commitsHeld = new Histogram({
    name: 'livereview_store_commits_held_seconds',
    help: "Time the embedded store held its commits while finishing a checkpoint (copying the log's last frames, syncing the database file)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly fanoutLatency = new HotHistogram(
    'livereview_fanout_latency_seconds',
    'From commit to the event being written to a recipient stream',
    [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    this.registry,
  );

  countSent(kind: string): void {
    this.sentByKind.set(kind, (this.sentByKind.get(kind) ?? 0) + 1);
  }

  countReceived(kind: string): void {
    this.receivedByKind.set(kind, (this.receivedByKind.get(kind) ?? 0) + 1);
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

/** Adds the counts gathered since the last scrape to `counter`, by kind. */
function moveCounts(counts: Map<string, number>, counter: Counter<'kind'>): void {
  for (const [kind, n] of counts) if (n > 0) counter.inc({ kind }, n);
  counts.clear();
}
