// Checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that crosses
// its threshold (1,000 pages): it copies the log into the database file and syncs both while the
// event loop waits. Under the typing load (docs/benchmarks.md, 2026-12-02) that was a checkpoint
// every ~150 ms with two fsyncs each, on the thread every stream waits behind.
//
// Here the store's connection never checkpoints (wal_autocheckpoint=0). At most every `intervalMs`
// after a commit, a worker thread with its own connection checkpoints in two steps:
// - **copy**: a PASSIVE checkpoint while the store goes on committing; it copies what the log held
//   when it started, which is nearly everything.
// - **finish**: the store holds its next commits (appends gather meanwhile, as during a flush)
//   while the worker copies the few frames committed during the copy. The log is then copied
//   whole, and the worker starts it over from the beginning (wal-checkpoint-worker.ts says why
//   the worker and not the store). Without this step a writer that commits every millisecond or
//   two would nearly always have appended a frame by the time a checkpoint completed, and the log
//   would never start over. It runs only once the log holds RESTART_AT_FRAMES frames: every hold
//   delays the appends that arrive during it, and under the typing load a finish after every copy
//   held commits ~17 ms of every second (docs/benchmarks.md, "2026-12-03, evening: the durable
//   store wrote 36 pages per commit; now a page or two"). The log grows to ~16 MB instead.
// Should the worker fail, the store checkpoints on its own connection every `intervalMs`, as SQLite
// would have. The worker starts with the first checkpoint.
//
// The log is the tail's (log-tail.ts). The same worker copies the tail into the session log when
// the store asks (`copyTail`), between checkpoint steps.
import { Worker } from 'node:worker_threads';
import { BACKGROUND_NICE } from './background-priority.js';
import type { KeptDuplicate } from './log-tail.js';
import type { CheckpointReply, CheckpointRequest } from './wal-checkpoint-worker.js';

/** How a copy of the tail ended: done (with the rows kept without their client message id), or
 * not (`error`: why, unless the worker was closing). */
export type TailCopyOutcome =
  { copied: true; duplicates: KeptDuplicate[] } | { copied: false; error?: string };

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 250;
/** Frames in the log at which a copy is followed by a finish (4 KB pages: ~16 MB). */
export const RESTART_AT_FRAMES = 4096;

export class WalCheckpointer {
  private worker: Worker | undefined;
  /** A step is in flight in the worker. */
  private busy = false;
  /** The finish step is in flight: the store commits nothing until it completes. */
  holding = false;
  private holdingSince = 0;
  private lastStartAt = performance.now();
  private closed = false;
  /** The worker failed: the store checkpoints on its own connection from then on. */
  private failure: string | undefined;
  /** A copy of the tail is in flight in the worker. */
  private copyingTail = false;

  /** `resume`: called when the store may commit again after holding, with how long it held. */
  constructor(
    private readonly file: string,
    private readonly tailFile: string,
    private readonly intervalMs: number,
    private readonly resume: (heldMs: number) => void,
    /** The store's journal_size_limit (the worker's commit after a restart applies it). */
    private readonly journalSizeLimit: number,
    /** A copy of the tail asked for with copyTail is done, or failed. */
    private readonly tailCopied: (outcome: TailCopyOutcome) => void,
    /** Frames in the log at which a copy is followed by a finish (and the log starts over). */
    private readonly restartAtFrames = RESTART_AT_FRAMES,
    /** The worker thread's nice value (0: the process's; background-priority.ts). */
    private readonly nice = BACKGROUND_NICE,
  ) {}

  /** A copy of the tail is in flight: the store leaves the main database file alone meanwhile. */
  get isCopyingTail(): boolean {
    return this.copyingTail;
  }

  /** Whether the worker can copy the tail now (false: a copy is in flight, or the worker failed or
   * is closing; the store copies it itself when the worker has failed). */
  get canCopyTail(): boolean {
    return !this.copyingTail && !this.closed && this.failure === undefined;
  }

  /** Asks the worker to copy the tail's rows up to `upTo` into the session log. */
  copyTail(upTo: number): void {
    if (!this.canCopyTail) throw new Error('the worker cannot copy the tail now');
    this.copyingTail = true;
    this.worker ??= this.startWorker();
    this.worker.ref();
    this.worker.postMessage({ type: 'copy-tail', upTo } satisfies CheckpointRequest);
  }

  private tailCopyDone(outcome: TailCopyOutcome): void {
    if (!this.copyingTail) return;
    this.copyingTail = false;
    this.tailCopied(outcome);
  }

  /** Called after each commit; true when the store should checkpoint on its own connection now. */
  committed(now = performance.now()): boolean {
    if (this.closed || this.busy || now - this.lastStartAt < this.intervalMs) return false;
    this.lastStartAt = now;
    if (this.failure !== undefined) return true;
    this.send('copy');
    return false;
  }

  private send(type: 'copy' | 'finish'): void {
    this.busy = true;
    this.worker ??= this.startWorker();
    // While a step is in flight the worker keeps the process alive: commits may be waiting on it.
    this.worker.ref();
    this.worker.postMessage({ type } satisfies CheckpointRequest);
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), {
      workerData: {
        file: this.file,
        tailFile: this.tailFile,
        journalSizeLimit: this.journalSizeLimit,
        nice: this.nice,
      },
    });
    worker.on('message', (reply: CheckpointReply) => {
      if (reply.type === 'tail-copied' || (reply.type === 'failed' && reply.step === 'copy-tail')) {
        this.tailCopyDone(
          reply.type === 'tail-copied'
            ? { copied: true, duplicates: reply.duplicates }
            : { copied: false, error: reply.message },
        );
        if (!this.closed && !this.busy) worker.unref();
        return;
      }
      // Idle, it does not keep the process alive (closing, it does until it exits).
      if (!this.closed && !this.copyingTail) worker.unref();
      if (reply.type === 'failed') return this.failed(reply.message);
      // The copy covered only the frames that were there when it started: finish with the rest.
      if (reply.type === 'copied' && reply.frames >= this.restartAtFrames && !this.closed) {
        this.holding = true;
        this.holdingSince = performance.now();
        return this.send('finish');
      }
      this.busy = false;
      this.release();
    });
    worker.on('error', (err) => {
      this.failed(err.message);
      this.tailCopyDone({ copied: false, error: err.message });
    });
    return worker;
  }

  private failed(message: string): void {
    if (!this.closed) this.worker?.unref();
    this.failure = message;
    this.busy = false;
    this.release();
  }

  private release(): void {
    if (!this.holding) return;
    this.holding = false;
    this.resume(performance.now() - this.holdingSince);
  }

  /** Stops the worker once its step in flight is done, before the store's connection closes (the
   * last connection to close checkpoints what is left and removes the log). */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.ref(); // until it has closed its connection
    if (this.failure !== undefined) await worker.terminate();
    else worker.postMessage({ type: 'close' } satisfies CheckpointRequest);
    await exited;
    this.busy = false;
    this.release();
    this.tailCopyDone({ copied: false });
  }
}
