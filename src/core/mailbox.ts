// A session's mailbox: everything that reads or changes its state runs here, one task at a time, so
// the state only runs ahead of the log while a batch is being committed, and nothing else sees it
// meanwhile. Consecutive durable commands are handed to the committer together (group commit).
import { LiveReviewError, asLiveReviewError } from './errors.js';

export interface BatchItem<C, R> {
  command: C;
  signal: AbortSignal | undefined;
  resolve(result: R): void;
  reject(err: LiveReviewError): void;
}

interface RunTask {
  kind: 'run';
  run(): unknown;
  signal: AbortSignal | undefined;
  resolve(value: unknown): void;
  reject(err: LiveReviewError): void;
}

type Task<C, R> = ({ kind: 'batch' } & BatchItem<C, R>) | RunTask;

export function cancelledError(): LiveReviewError {
  return new LiveReviewError('CANCELLED', 'cancelled before it was processed');
}

export class Mailbox<C, R> {
  private readonly tasks: Task<C, R>[] = [];
  private draining = false;

  constructor(
    /** Commits a batch of consecutive commands; settles each item itself. */
    private readonly commit: (items: BatchItem<C, R>[]) => Promise<void>,
    private readonly maxBatch: number,
    /** When an idle mailbox takes its first batch: once `take` is called (see Clock.whenSettled),
     * so that commands arriving together are committed together. Without it, at once. */
    private readonly gather?: (pending: () => number, take: () => void) => void,
  ) {}

  get idle(): boolean {
    return !this.draining && this.tasks.length === 0;
  }

  /** Queues a command for the next batch; resolves with what the committer settles it with. */
  submit(command: C, signal?: AbortSignal): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.enqueue({ kind: 'batch', command, signal, resolve, reject });
    });
  }

  /** Runs `fn` between batches. */
  run<T>(fn: () => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: 'run', run: fn, signal, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private enqueue(task: Task<C, R>): void {
    this.tasks.push(task);
    if (this.draining) return;
    if (task.kind === 'batch' && this.gather) {
      this.draining = true; // (not idle: a batch is gathering)
      this.gather(
        () => this.tasks.length,
        () => void this.drain(),
      );
    } else void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.tasks.length > 0) {
        const first = this.tasks[0]!;
        if (first.kind === 'batch') {
          const batch: BatchItem<C, R>[] = [];
          while (batch.length < this.maxBatch && this.tasks[0]?.kind === 'batch') {
            batch.push(this.tasks.shift() as BatchItem<C, R>);
          }
          await this.commit(batch);
          continue;
        }
        this.tasks.shift();
        if (first.signal?.aborted) {
          first.reject(cancelledError());
          continue;
        }
        try {
          first.resolve(await first.run());
        } catch (err) {
          first.reject(asLiveReviewError(err));
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
